(function () {
  "use strict";

  // Requests go to the page's own origin, so the browser sends the operator
  // credentials it remembered from the page's basic-auth prompt. The base
  // never carries user:password@ from the address bar.
  var base = location.origin + location.pathname;
  var $ = function (id) { return document.getElementById(id); };
  var lifecycle = Boolean($("lookup-form"));
  // Calls shown per request: a card stays short, "More calls" reads on.
  var CALLS_PAGE_SIZE = 10;
  var idCount = 0;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Ids for elements a card creates: the same session may be on the page twice.
  function uniqueId(prefix) {
    idCount += 1;
    return prefix + "-" + idCount;
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function sum(numbers) { return numbers.reduce(function (a, b) { return a + b; }, 0); }

  // The API's messages are fragments ("the session is closed; closing is final").
  function sentence(text) {
    text = String(text || "").trim();
    if (!text) return "Something went wrong.";
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }

  async function api(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var response;
    try {
      response = await fetch(new URL(path, base), init);
    } catch (e) {
      return { status: 0, data: null, error: { message: "The API could not be reached. Check the connection and try again." } };
    }
    var text = await response.text();
    var data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    var error = null;
    if (!response.ok) {
      error = (data && data.error) || { message: ("The API answered " + response.status + " " + response.statusText).trim() + "." };
      if (response.status === 401) error = { message: sentence(error.message) + " Reload the page to sign in again." };
    }
    return { status: response.status, data: data, error: error };
  }

  function sessionPath(sid, rest) {
    return "sessions/" + encodeURIComponent(sid) + (rest || "");
  }

  // ----- errors next to the fields they name

  function clearErrors(form, formError) {
    form.querySelectorAll(".field-error").forEach(function (p) { p.textContent = ""; p.hidden = true; });
    form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
    formError.textContent = "";
    formError.hidden = true;
  }

  // "addresses[1] is not valid" -> "Participant 2 is not valid".
  function fieldMessage(error, label) {
    var message = error.message || "is not valid";
    if (error.field && message.indexOf(error.field + " ") === 0) {
      return label + " " + message.slice(error.field.length + 1);
    }
    return message;
  }

  function markField(t, message) {
    t.error.textContent = message;
    t.error.hidden = false;
    t.input.setAttribute("aria-invalid", "true");
    t.input.focus();
  }

  function showError(error, target, formError) {
    error = error || { message: "Something went wrong." };
    var t = target(error);
    if (t) {
      markField(t, fieldMessage(error, t.label));
    } else {
      formError.textContent = sentence(error.message);
      formError.hidden = false;
    }
  }

  function busy(button, on) {
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
  }

  // ----- the pool chart (GET /pool)

  var pool = {
    card: $("pool-card"),
    chart: $("pool-chart"),
    bars: $("pool-bars"),
    summary: $("pool-summary"),
    list: $("pool"),
    uncounted: $("pool-uncounted"),
    status: $("pool-status"),
    error: $("pool-error"),
    refresh: $("pool-refresh")
  };

  // The rule the chart's caption states, its numbers from the markup.
  function exhaustionRule() {
    return {
      percentOfBusiest: Number(pool.chart.getAttribute("data-near-busiest-percent")),
      timesAverage: Number(pool.chart.getAttribute("data-near-average-times"))
    };
  }

  function busiestOf(counts) { return Math.max.apply(null, [0].concat(counts)); }

  // Near exhaustion: close to the busiest AND well above the average, so an
  // evenly loaded pool is never flagged. Integer arithmetic: no rounding at
  // the boundary. An idle number never is.
  function nearExhaustion(counts, rule) {
    var busiest = busiestOf(counts);
    var total = sum(counts);
    return counts.map(function (n) {
      return n > 0 && n * 100 >= rule.percentOfBusiest * busiest && n * counts.length >= rule.timesAverage * total;
    });
  }

  function poolBar(number, count, busiest, near) {
    var li = el("li", { class: near ? "bar near" : "bar", "data-number": number, "data-in-use": String(count) });
    var track = el("span", { class: "bar-track", "aria-hidden": "true" });
    var fill = el("span", { class: "bar-fill" });
    // Through the CSSOM: the CSP blocks style attributes, not this.
    fill.style.width = busiest ? (100 * count / busiest) + "%" : "0";
    track.append(fill);
    li.append(el("code", { class: "bar-label" }, number), track, el("span", { class: "bar-value" }, plural(count, "participant", "participants")));
    if (near) li.append(el("strong", { class: "flag" }, "near exhaustion"));
    return li;
  }

  function poolSummary(counts, near) {
    var inUse = counts.filter(function (n) { return n > 0; }).length;
    var flagged = near.filter(Boolean).length;
    var parts = [
      inUse + " of " + plural(counts.length, "number", "numbers") + " in use",
      plural(sum(counts), "participant", "participants") + " in open sessions"
    ];
    if (flagged) parts.push(flagged + " near exhaustion");
    return parts.join(" · ");
  }

  function drawPool(data) {
    // Without the index nothing was counted: zeros would be a lie.
    var counted = Boolean(data.counted);
    pool.uncounted.hidden = counted;
    pool.chart.hidden = !counted;
    pool.list.hidden = counted;
    if (!counted) return;
    var entries = Array.isArray(data.pool) ? data.pool : [];
    var counts = entries.map(function (e) { return Number(e.in_use) || 0; });
    var near = nearExhaustion(counts, exhaustionRule());
    var busiest = busiestOf(counts);
    pool.bars.replaceChildren.apply(pool.bars, entries.map(function (e, i) {
      return poolBar(String(e.number || ""), counts[i], busiest, near[i]);
    }));
    pool.summary.textContent = poolSummary(counts, near);
  }

  var poolCounting = false;
  var poolWanted = false;

  // One count at a time: a change during a count asks for one more, so the
  // chart ends current and an older answer never overwrites a newer one.
  async function loadPool() {
    if (poolCounting) {
      poolWanted = true;
      return;
    }
    poolCounting = true;
    pool.card.setAttribute("aria-busy", "true");
    do {
      poolWanted = false;
      await countPool();
    } while (poolWanted);
    poolCounting = false;
    pool.card.setAttribute("aria-busy", "false");
  }

  async function countPool() {
    busy(pool.refresh, true);
    pool.status.textContent = "Counting…";
    var res = await api("GET", "pool");
    busy(pool.refresh, false);
    if (res.status === 200 && res.data) {
      pool.error.hidden = true;
      drawPool(res.data);
      pool.status.textContent = res.data.counted ? "Counted at " + new Date().toLocaleTimeString() + "." : "";
    } else {
      pool.status.textContent = "";
      pool.error.textContent = "The pool's use could not be read. " + sentence(res.error && res.error.message);
      pool.error.hidden = false;
    }
  }

  pool.refresh.addEventListener("click", loadPool);

  // ----- what a session card shows

  function describeUse(session) {
    var caps = Array.isArray(session.capabilities) ? session.capabilities : ["voice", "message"];
    var voice = caps.indexOf("voice") >= 0;
    var message = caps.indexOf("message") >= 0;
    var what = voice && message ? "Voice calls and messages" : voice ? "Voice calls only" : "Messages only";
    if (!voice) return what + ".";
    return what + (session.record ? " · calls are recorded." : " · calls are not recorded.");
  }

  function describeTimers(timers) {
    timers = timers || {};
    var when = [];
    if (timers.date_inactive) when.push("inactive at " + timers.date_inactive);
    if (timers.date_closed) when.push("closes at " + timers.date_closed);
    return when.length ? "Timers: " + when.join(", ") + "." : "";
  }

  function participantTable(session, onRemove) {
    var participants = Array.isArray(session.participants) ? session.participants : [];
    // Only a full session (create, GET /sessions/{sid}) names participants by sid.
    var withSids = participants.some(function (p) { return p.sid; });
    var table = el("table", { class: "participants-table" });
    table.append(el("caption", {}, plural(participants.length, "participant", "participants")));
    var headers = ["Participant", "Proxy number", "Channel"];
    if (withSids) headers.push("Participant SID");
    if (onRemove) headers.push("Actions");
    var hr = el("tr");
    headers.forEach(function (h) { hr.append(el("th", { scope: "col" }, h)); });
    var thead = el("thead");
    thead.append(hr);
    var tbody = el("tbody");
    participants.forEach(function (p) {
      var b = p.messaging_binding || {};
      var who = b.address || p.identity || "";
      var tr = el("tr");
      tr.append(el("td", {}, who), el("td", {}, b.proxy_address || ""), el("td", {}, b.type || ""));
      if (withSids) tr.append(el("td", { class: "participant-sid" }, p.sid || ""));
      if (onRemove) {
        var cell = el("td");
        if (p.sid) {
          var remove = el("button", { type: "button", class: "secondary remove-participant", "aria-label": "Remove participant " + who }, "Remove");
          remove.addEventListener("click", function () { onRemove(p, who, remove); });
          cell.append(remove);
        }
        tr.append(cell);
      }
      tbody.append(tr);
    });
    table.append(thead, tbody);
    return table;
  }

  // ----- calls (GET /sessions/{sid}/interactions)

  function formatWhen(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso || "") : d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
  }

  function formatDuration(seconds) {
    if (typeof seconds !== "number") return "—";
    if (seconds < 60) return seconds + " s";
    return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  }

  // Only web links: the URL comes from Twilio by way of the index.
  function webLink(url) {
    try {
      var parsed = new URL(url);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  // "MB89a3…d641": enough to tell participants apart beside the
  // participant table's full sids; the whole sid is the title.
  function shortSid(sid) {
    return sid.length > 14 ? sid.slice(0, 6) + "…" + sid.slice(-4) : sid;
  }

  // A call party as the call log names them: proxy number and participant
  // sid, never their own number.
  function callParty(party) {
    party = party || {};
    var span = el("span", { class: "party" });
    span.append(el("code", {}, party.proxy || "?"));
    if (party.participant) {
      var sid = String(party.participant);
      span.append(" (", el("span", { class: "participant-sid", title: sid, "data-participant": sid }, shortSid(sid)), ")");
    }
    return span;
  }

  function callRow(call) {
    if (call.kind === "message") return messages.row(call);
    var tr = el("tr", { "data-call-sid": call.call_sid || "" });
    var started = el("td");
    started.append(el("time", { datetime: call.started || "" }, formatWhen(call.started)));
    var parties = el("td", { class: "parties" });
    parties.append(callParty(call.from), " → ");
    (Array.isArray(call.to) ? call.to : []).forEach(function (p, i) {
      if (i) parties.append(", ");
      parties.append(callParty(p));
    });
    var recording = el("td", { class: "recording" });
    var href = call.recording_url ? webLink(call.recording_url) : null;
    if (href) recording.append(el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, "Recording"));
    else recording.textContent = "—";
    tr.append(started, parties, el("td", {}, formatDuration(call.duration)), el("td", {}, call.status || ""), recording);
    return tr;
  }

  function callsSection(sid) {
    var headingId = uniqueId("calls");
    var section = el("section", { class: "calls", "aria-labelledby": headingId });
    var actions = el("div", { class: "actions" });
    var load = el("button", { type: "button", class: "secondary calls-load" }, "Show calls");
    var status = el("span", { class: "status", role: "status", "aria-live": "polite" });
    actions.append(load, status);
    var note = el("p", { class: "hint calls-note" });
    note.hidden = true;
    var wrap = el("div", { class: "table-wrap" });
    wrap.hidden = true;
    var table = el("table", { class: "calls-table" });
    table.append(el("caption", {}, "Newest first"));
    var hr = el("tr");
    ["Started", "Caller → callee", "Duration", "Status", "Recording"].forEach(function (h) { hr.append(el("th", { scope: "col" }, h)); });
    var thead = el("thead");
    thead.append(hr);
    var tbody = el("tbody");
    table.append(thead, tbody);
    wrap.append(table);
    var more = el("button", { type: "button", class: "secondary calls-more" }, "More calls");
    more.hidden = true;
    var err = el("p", { class: "form-error", role: "alert" });
    err.hidden = true;
    section.append(el("h4", { id: headingId }, "Calls"), actions, note, wrap, more, err);
    var next = null;

    function say(text) {
      note.textContent = text;
      note.hidden = !text;
    }

    async function read(first, button) {
      err.hidden = true;
      busy(button, true);
      status.textContent = "Loading calls…";
      var path = sessionPath(sid, "/interactions?pageSize=" + CALLS_PAGE_SIZE);
      if (!first && next) path += "&next=" + encodeURIComponent(next);
      var res = await api("GET", path);
      busy(button, false);
      status.textContent = "";
      if (res.status === 200 && res.data) {
        if (first) tbody.replaceChildren();
        (Array.isArray(res.data.interactions) ? res.data.interactions : []).forEach(function (c) { tbody.append(callRow(c)); });
        next = res.data.next || null;
        more.hidden = !next;
        wrap.hidden = tbody.rows.length === 0;
        say(tbody.rows.length === 0 ? "No calls yet." : "");
        status.textContent = plural(tbody.rows.length, "call", "calls") + " shown.";
        load.textContent = "Refresh calls";
      } else if (res.status === 409 && res.error && res.error.code === "index_required") {
        // Not a failure of this request: this stack keeps no call log.
        wrap.hidden = true;
        more.hidden = true;
        say("Calls are not listed here: the call log lives in the session index, and this stack runs without one.");
      } else {
        err.textContent = "The calls could not be loaded. " + sentence(res.error && res.error.message);
        err.hidden = false;
      }
    }

    load.addEventListener("click", function () { read(true, load); });
    more.addEventListener("click", function () { read(false, more); });
    return section;
  }

  // Messages (messages.js): a send form per card, message rows in the log.
  var messages = maskedCommsMessages({
    el: el, api: api, sessionPath: sessionPath, uniqueId: uniqueId, plural: plural, busy: busy,
    markField: markField, fieldMessage: fieldMessage, formatWhen: formatWhen, callParty: callParty, shortSid: shortSid
  });

  // ----- session cards (create result and lookup results)

  // One session on the page: what the card shows and what changes it.
  // `full`: the session as POST /sessions or GET /sessions/{sid} answer it
  // (participants with sids), which participants can be managed from.
  function SessionView(session, full) {
    this.session = session;
    this.full = full;
    this.card = el("article", { class: "session", "data-sid": session.sid || "" });
    this.title = el("h3", { tabindex: "-1" });
    this.badge = el("span", { class: "badge" });
    this.facts = el("p", { class: "hint facts" });
    this.timers = el("p", { class: "hint timers" });
    this.people = el("div", { class: "table-wrap participants" });
    this.adder = addParticipantForm(this);
    this.messenger = messages.form(this);
    this.actions = el("div", { class: "actions" });
    this.status = el("span", { class: "status session-status", role: "status", "aria-live": "polite" });
    this.err = el("p", { class: "form-error session-error", role: "alert" });
    this.err.hidden = true;
    this.raw = el("pre");
  }

  SessionView.prototype.isOpen = function () { return this.session.state !== "closed"; };

  SessionView.prototype.manageable = function () {
    return lifecycle && this.full && this.isOpen() && Boolean(this.session.sid);
  };

  SessionView.prototype.render = function () {
    var s = this.session;
    this.title.textContent = s.friendly_name || "Untitled session";
    var state = s.state || "unknown";
    this.badge.textContent = state;
    this.badge.className = "badge " + state;
    this.facts.textContent = describeUse(s);
    this.timers.textContent = describeTimers(s.timers);
    this.timers.hidden = !this.timers.textContent;
    var view = this;
    var onRemove = this.manageable() ? function (p, who, button) { removeParticipant(view, p, who, button); } : null;
    this.people.replaceChildren(participantTable(s, onRemove));
    this.adder.hidden = !this.manageable();
    this.messenger.hidden = !this.manageable();
    this.messenger.refresh(s);
    this.raw.textContent = JSON.stringify(s, null, 2);
  };

  SessionView.prototype.fail = function (error, fallback) {
    this.err.textContent = error && error.message ? sentence(error.message) : fallback;
    this.err.hidden = false;
  };

  // The session as the API has it now (after every change).
  SessionView.prototype.reread = async function () {
    var res = await api("GET", sessionPath(this.session.sid));
    if (res.status === 200 && res.data) {
      this.session = res.data;
      this.full = true;
      this.render();
      return true;
    }
    this.fail(res.error, "The session could not be read again; reload the page.");
    return false;
  };

  SessionView.prototype.changed = async function (done) {
    this.status.textContent = done + " Updating the list…";
    if (await this.reread()) this.status.textContent = done;
    loadPool();
  };

  function sessionCard(session, full) {
    var view = new SessionView(session, full);
    var head = el("div", { class: "session-head" });
    head.append(view.title, view.badge);
    var sid = el("div", { class: "sid" }, "SID ");
    sid.append(el("code", {}, session.sid || ""));
    var details = el("details");
    details.append(el("summary", {}, "Raw JSON"), view.raw);
    view.card.append(head, sid, view.facts, view.timers, view.people, view.adder, view.messenger, view.actions, view.err);
    if (session.sid) view.card.append(callsSection(session.sid));
    view.card.append(details);
    if (lifecycle && view.isOpen() && session.sid) {
      if (!full) view.actions.append(manageButton(view));
      view.actions.append(closeButton(view));
    }
    view.actions.append(view.status);
    view.render();
    return view.card;
  }

  // A listed session names nobody by sid: read it whole to manage it.
  function manageButton(view) {
    var manage = el("button", { type: "button", class: "secondary manage" }, "Manage participants");
    manage.addEventListener("click", async function () {
      view.err.hidden = true;
      busy(manage, true);
      view.status.textContent = "Reading the session…";
      var read = await view.reread();
      view.status.textContent = "";
      if (read) {
        manage.remove();
        view.adder.querySelector("input").focus();
      } else {
        busy(manage, false);
      }
    });
    return manage;
  }

  function closeButton(view) {
    var close = el("button", { type: "button", class: "danger" }, "Close session");
    close.addEventListener("click", async function () {
      if (!window.confirm("Close this session? Its participants can no longer reach each other through it, and it cannot be reopened.")) return;
      view.err.hidden = true;
      busy(close, true);
      view.status.textContent = "Closing…";
      var res = await api("DELETE", sessionPath(view.session.sid));
      if (res.status === 204 || res.status === 200) {
        view.session.state = "closed";
        view.render();
        view.actions.querySelectorAll("button").forEach(function (b) { b.remove(); });
        view.status.textContent = "Session closed.";
        loadPool();
      } else {
        busy(close, false);
        view.status.textContent = "";
        view.fail(res.error, "The session could not be closed.");
      }
    });
    return close;
  }

  async function removeParticipant(view, participant, who, button) {
    if (!window.confirm("Remove " + (who || "this participant") + " from this session? They can no longer reach the others through it.")) return;
    view.err.hidden = true;
    busy(button, true);
    view.status.textContent = "Removing…";
    var res = await api("DELETE", sessionPath(view.session.sid, "/participants/" + encodeURIComponent(participant.sid)));
    if (res.status === 204) {
      await view.changed("Participant removed.");
    } else {
      busy(button, false);
      view.status.textContent = "";
      view.fail(res.error, "The participant could not be removed.");
    }
  }

  function addParticipantForm(view) {
    var id = uniqueId("add-participant");
    var form = el("form", { class: "add-participant", novalidate: "" });
    var input = el("input", {
      type: "text", id: id, autocomplete: "off", autocapitalize: "off", spellcheck: "false",
      placeholder: "+14155550101", "aria-describedby": id + "-error"
    });
    var submit = el("button", { type: "submit" }, "Add");
    var row = el("div", { class: "inline" });
    row.append(input, submit);
    var error = el("p", { class: "field-error", id: id + "-error" });
    error.hidden = true;
    form.append(el("label", { for: id }, "Add a participant"), row, error);
    var field = { input: input, error: error, label: "New participant" };

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      view.err.hidden = true;
      error.hidden = true;
      input.removeAttribute("aria-invalid");
      var address = input.value.trim();
      if (!address) {
        markField(field, "Enter the number to add, such as +14155550101.");
        return;
      }
      busy(submit, true);
      view.status.textContent = "Adding…";
      // In the body, never the URL: the number stays out of logs and history.
      var res = await api("POST", sessionPath(view.session.sid, "/participants"), { address: address });
      busy(submit, false);
      if (res.status === 201) {
        input.value = "";
        await view.changed("Participant added.");
        return;
      }
      view.status.textContent = "";
      var e = res.error || {};
      // What is wrong with this number goes next to it; the rest to the card.
      if (e.field === "address") markField(field, fieldMessage(e, field.label));
      else if (e.code === "participant_exists" || e.code === "pool_exhausted") markField(field, sentence(e.message));
      else view.fail(e, "The participant could not be added.");
    });
    return form;
  }

  // ----- create form

  var createForm = $("create-form");
  var rowsList = $("address-rows");
  var addRow = $("add-row");
  var maxRows = Number(rowsList.getAttribute("data-max")) || 50;
  var createError = $("create-error");
  var createStatus = $("create-status");
  var createSubmit = $("create-submit");
  var createResult = $("create-result");

  function rows() { return Array.prototype.slice.call(rowsList.querySelectorAll("li.row")); }

  function renumber() {
    var all = rows();
    all.forEach(function (li, i) {
      var id = "address-" + i;
      var label = li.querySelector("label");
      var input = li.querySelector("input");
      var remove = li.querySelector("button.remove");
      var error = li.querySelector(".field-error");
      label.htmlFor = id;
      label.textContent = "Participant " + (i + 1);
      input.id = id;
      error.id = id + "-error";
      input.setAttribute("aria-describedby", error.id);
      remove.setAttribute("aria-label", "Remove participant " + (i + 1));
      remove.disabled = all.length <= 1;
    });
    addRow.disabled = all.length >= maxRows;
  }

  addRow.addEventListener("click", function () {
    var all = rows();
    if (all.length >= maxRows) return;
    var row = all[0].cloneNode(true);
    var input = row.querySelector("input");
    input.removeAttribute("value");
    input.removeAttribute("aria-invalid");
    input.value = "";
    var error = row.querySelector(".field-error");
    error.textContent = "";
    error.hidden = true;
    rowsList.append(row);
    renumber();
    input.focus();
  });

  rowsList.addEventListener("click", function (event) {
    var button = event.target.closest("button.remove");
    if (!button) return;
    var all = rows();
    if (all.length <= 1) return;
    var index = all.indexOf(button.closest("li.row"));
    all[index].remove();
    renumber();
    var left = rows();
    left[Math.min(index, left.length - 1)].querySelector("input").focus();
  });

  var capabilitiesTarget = { input: $("cap-voice"), error: $("capabilities-error"), label: "Capabilities" };

  function createTarget(error) {
    var field = error.field;
    var match = /^addresses\[(\d+)\]$/.exec(field || "");
    var all = rows();
    if (match && all[Number(match[1])]) {
      var li = all[Number(match[1])];
      return { input: li.querySelector("input"), error: li.querySelector(".field-error"), label: "Participant " + (Number(match[1]) + 1) };
    }
    if (field === "addresses" || field === "address") {
      return { input: all[0].querySelector("input"), error: $("participants-error"), label: "Participants" };
    }
    if (field === "friendlyName") return { input: $("friendly-name"), error: $("friendly-name-error"), label: "Friendly name" };
    if (field === "timers.inactive") return { input: $("timer-inactive"), error: $("timer-inactive-error"), label: "Inactive timer" };
    if (field === "timers.closed") return { input: $("timer-closed"), error: $("timer-closed-error"), label: "Closed timer" };
    if (field === "capabilities") return capabilitiesTarget;
    if (field === "record") return { input: $("record"), error: $("record-error"), label: "Record calls" };
    if (!field && error.address) {
      // pool_exhausted names the participant's address: mark that row.
      var hit = all.filter(function (r) { return r.querySelector("input").value.trim() === error.address; })[0];
      if (hit) return { input: hit.querySelector("input"), error: hit.querySelector(".field-error"), label: "" };
    }
    return null;
  }

  // The ticked capabilities; both ticked is the API's default.
  function chosenCapabilities() {
    return Array.prototype.slice.call(createForm.querySelectorAll("input[name='capabilities']"))
      .filter(function (box) { return box.checked; })
      .map(function (box) { return box.value; });
  }

  createForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearErrors(createForm, createError);
    var capabilities = chosenCapabilities();
    if (capabilities.length === 0) {
      markField(capabilitiesTarget, "Choose at least one: voice calls, messages, or both.");
      return;
    }
    var body = { addresses: rows().map(function (li) { return li.querySelector("input").value.trim(); }) };
    var name = $("friendly-name").value.trim();
    if (name) body.friendlyName = name;
    var inactive = $("timer-inactive").value.trim();
    var closed = $("timer-closed").value.trim();
    if (inactive || closed) {
      body.timers = {};
      if (inactive) body.timers.inactive = inactive;
      if (closed) body.timers.closed = closed;
    }
    if (capabilities.length === 1) body.capabilities = capabilities;
    if ($("record").checked) body.record = true;
    busy(createSubmit, true);
    createStatus.textContent = "Creating session…";
    var res = await api("POST", "sessions", body);
    busy(createSubmit, false);
    if (res.status === 201 && res.data) {
      createStatus.textContent = "Session created.";
      createResult.replaceChildren(sessionCard(res.data, true));
      createResult.hidden = false;
      createResult.querySelector("h3").focus();
      loadPool();
    } else {
      createStatus.textContent = "";
      showError(res.error, createTarget, createError);
    }
  });

  loadPool();

  // ----- lookup (only when the page offers it)

  if (!lifecycle) return;
  var lookupForm = $("lookup-form");
  var lookupInput = $("lookup-address");
  var lookupError = $("lookup-error");
  var lookupStatus = $("lookup-status");
  var lookupSubmit = $("lookup-submit");
  var lookupResults = $("lookup-results");
  var lookupMore = $("lookup-more");
  var lookup = { address: "", all: false, next: null, count: 0 };

  function lookupTarget(error) {
    if (error.field === "address") return { input: lookupInput, error: $("lookup-address-error"), label: "Participant address" };
    if (error.field === "state") return { input: $("lookup-all"), error: $("lookup-all-error"), label: "State" };
    return null;
  }

  // The one URL that carries a number: the API's documented list query.
  function pageUrl() {
    var url = "sessions?address=" + encodeURIComponent(lookup.address);
    if (lookup.all) url += "&state=all";
    if (lookup.next) url += "&next=" + encodeURIComponent(lookup.next);
    return url;
  }

  async function loadLookup(button) {
    busy(button, true);
    lookupStatus.textContent = "Looking up…";
    var res = await api("GET", pageUrl());
    busy(button, false);
    if (res.status === 200 && res.data) {
      var sessions = Array.isArray(res.data.sessions) ? res.data.sessions : [];
      sessions.forEach(function (s) { lookupResults.append(sessionCard(s, false)); });
      lookup.count += sessions.length;
      lookup.next = res.data.next || null;
      lookupMore.hidden = !lookup.next;
      lookupStatus.textContent = lookup.count === 0
        ? (lookup.all ? "No sessions for this address." : "No open sessions for this address.")
        : lookup.count + (lookup.count === 1 ? " session found." : " sessions found.");
    } else {
      lookupStatus.textContent = "";
      lookupMore.hidden = true;
      showError(res.error, lookupTarget, lookupError);
    }
  }

  lookupForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(lookupForm, lookupError);
    lookup = { address: lookupInput.value.trim(), all: $("lookup-all").checked, next: null, count: 0 };
    lookupResults.replaceChildren();
    lookupMore.hidden = true;
    loadLookup(lookupSubmit);
  });

  lookupMore.addEventListener("click", function () {
    clearErrors(lookupForm, lookupError);
    loadLookup(lookupMore);
  });
})();
