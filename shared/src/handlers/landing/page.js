(function () {
  "use strict";

  // Requests go to the page's own origin, so the browser sends the operator
  // credentials it remembered from the page's basic-auth prompt. The base
  // never carries user:password@ from the address bar.
  var base = location.origin + location.pathname;
  var $ = function (id) { return document.getElementById(id); };
  var lifecycle = Boolean($("lookup-form"));

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
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
      if (response.status === 401) error = { message: error.message + ". Reload the page to sign in again." };
    }
    return { status: response.status, data: data, error: error };
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

  function showError(error, target, formError) {
    error = error || { message: "Something went wrong." };
    var t = target(error);
    if (t) {
      t.error.textContent = fieldMessage(error, t.label);
      t.error.hidden = false;
      t.input.setAttribute("aria-invalid", "true");
      t.input.focus();
    } else {
      formError.textContent = error.message || "Something went wrong.";
      formError.hidden = false;
    }
  }

  function busy(button, on) {
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
  }

  // ----- session cards (create result and lookup results)

  function sessionCard(session, closable) {
    var card = el("article", { class: "session" });
    var head = el("div", { class: "session-head" });
    var title = el("h3", { tabindex: "-1" }, session.friendly_name || "Untitled session");
    var state = session.state || "unknown";
    var badge = el("span", { class: "badge " + state }, state);
    head.append(title, badge);
    var sid = el("div", { class: "sid" }, "SID ");
    sid.append(el("code", {}, session.sid || ""));
    card.append(head, sid);

    var timers = session.timers || {};
    if (timers.date_inactive || timers.date_closed) {
      var when = [];
      if (timers.date_inactive) when.push("inactive at " + timers.date_inactive);
      if (timers.date_closed) when.push("closes at " + timers.date_closed);
      card.append(el("p", { class: "hint" }, "Timers: " + when.join(", ") + "."));
    }

    var participants = Array.isArray(session.participants) ? session.participants : [];
    var wrap = el("div", { class: "table-wrap" });
    var table = el("table");
    table.append(el("caption", {}, participants.length + (participants.length === 1 ? " participant" : " participants")));
    var thead = el("thead");
    var hr = el("tr");
    ["Participant", "Proxy number", "Channel"].forEach(function (h) { hr.append(el("th", { scope: "col" }, h)); });
    thead.append(hr);
    var tbody = el("tbody");
    participants.forEach(function (p) {
      var b = p.messaging_binding || {};
      var tr = el("tr");
      tr.append(el("td", {}, b.address || ""), el("td", {}, b.proxy_address || ""), el("td", {}, b.type || ""));
      tbody.append(tr);
    });
    table.append(thead, tbody);
    wrap.append(table);
    card.append(wrap);

    var details = el("details");
    details.append(el("summary", {}, "Raw JSON"), el("pre", {}, JSON.stringify(session, null, 2)));
    card.append(details);

    if (lifecycle && closable && state !== "closed" && session.sid) {
      var actions = el("div", { class: "actions" });
      var close = el("button", { type: "button", class: "danger" }, "Close session");
      var status = el("span", { class: "status", role: "status", "aria-live": "polite" });
      var err = el("p", { class: "form-error", role: "alert" });
      err.hidden = true;
      close.addEventListener("click", async function () {
        if (!window.confirm("Close this session? Its participants can no longer reach each other through it, and it cannot be reopened.")) return;
        err.hidden = true;
        busy(close, true);
        status.textContent = "Closing…";
        var res = await api("DELETE", "sessions/" + encodeURIComponent(session.sid));
        if (res.status === 204 || res.status === 200) {
          badge.textContent = "closed";
          badge.className = "badge closed";
          status.textContent = "Session closed.";
          close.remove();
        } else {
          busy(close, false);
          status.textContent = "";
          err.textContent = (res.error && res.error.message) || "The session could not be closed.";
          err.hidden = false;
        }
      });
      actions.append(close, status);
      card.append(actions, err);
    }
    return card;
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
    if (!field && error.address) {
      // pool_exhausted names the participant's address: mark that row.
      var hit = all.filter(function (r) { return r.querySelector("input").value.trim() === error.address; })[0];
      if (hit) return { input: hit.querySelector("input"), error: hit.querySelector(".field-error"), label: "" };
    }
    return null;
  }

  createForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    clearErrors(createForm, createError);
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
    busy(createSubmit, true);
    createStatus.textContent = "Creating session…";
    var res = await api("POST", "sessions", body);
    busy(createSubmit, false);
    if (res.status === 201 && res.data) {
      createStatus.textContent = "Session created.";
      createResult.replaceChildren(sessionCard(res.data, true));
      createResult.hidden = false;
      createResult.querySelector("h3").focus();
    } else {
      createStatus.textContent = "";
      showError(res.error, createTarget, createError);
    }
  });

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
      sessions.forEach(function (s) { lookupResults.append(sessionCard(s, true)); });
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
