// The operator page's messages: a form that sends a message into a session
// (POST /sessions/{sid}/messages) to one participant or to everyone, and the
// call log's rows for messages (who to whom, never the body). page.js calls
// maskedCommsMessages with its helpers; this file is inlined before it.
var maskedCommsMessages = function (h) {
  "use strict";
  var el = h.el;

  // A message row of the session's log: sent, from → to, media, origin.
  function row(message) {
    var tr = el("tr", { class: "message-row", "data-message-sid": message.message_sid || "" });
    var sent = el("td");
    sent.append(el("time", { datetime: message.sent || "" }, h.formatWhen(message.sent)));
    var parties = el("td", { class: "parties" });
    if (message.from) parties.append(h.callParty(message.from));
    else parties.append(el("span", { class: "party backend" }, "Your backend"));
    parties.append(" → ");
    (Array.isArray(message.to) ? message.to : []).forEach(function (p, i) {
      if (i) parties.append(", ");
      parties.append(h.callParty(p));
    });
    var what = "Message (" + (message.channel || "?") + ")";
    if (message.template) what += ", template";
    if (message.media) what += ", " + h.plural(message.media, "media file", "media files");
    tr.append(sent, parties, el("td", {}, "—"), el("td", {}, what), el("td", {}, "—"));
    return tr;
  }

  // The form: "To" lists everyone and each participant (by number and
  // sid); the body is required here (media and templates: use the API).
  function form(view) {
    var id = h.uniqueId("send-message");
    var box = el("form", { class: "send-message", novalidate: "" });
    var to = el("select", { id: id + "-to" });
    var body = el("textarea", { id: id, rows: "2", maxlength: "1600", "aria-describedby": id + "-error" });
    var submit = el("button", { type: "submit" }, "Send");
    var error = el("p", { class: "field-error", id: id + "-error" });
    error.hidden = true;
    var toLabel = el("label", { for: id + "-to" }, "To");
    box.append(el("label", { for: id }, "Send a message"), toLabel, to, body, submit, error);
    var field = { input: body, error: error, label: "The message" };

    box.refresh = function (session) {
      to.replaceChildren(el("option", { value: "" }, "Everyone"));
      (Array.isArray(session.participants) ? session.participants : []).forEach(function (p) {
        var binding = p.messaging_binding || {};
        if (!p.sid || !binding.address) return;
        to.append(el("option", { value: p.sid }, binding.address + " (" + h.shortSid(p.sid) + ")"));
      });
    };

    box.addEventListener("submit", async function (event) {
      event.preventDefault();
      view.err.hidden = true;
      error.hidden = true;
      body.removeAttribute("aria-invalid");
      var text = body.value;
      if (!text.trim()) {
        h.markField(field, "Write the message to send.");
        return;
      }
      var request = { body: text };
      if (to.value) request.to = to.value;
      h.busy(submit, true);
      view.status.textContent = "Sending…";
      var res = await h.api("POST", h.sessionPath(view.session.sid, "/messages"), request);
      h.busy(submit, false);
      if (res.status === 201 && res.data) {
        var sent = (res.data.messages || []).filter(function (m) { return m.message_sid; }).length;
        body.value = "";
        view.status.textContent = "Message sent to " + h.plural(sent, "participant", "participants") + ".";
        return;
      }
      view.status.textContent = "";
      var e = res.error || {};
      if (e.field === "body") h.markField(field, h.fieldMessage(e, field.label));
      else view.fail(e, "The message could not be sent.");
    });
    return box;
  }

  return { row: row, form: form };
};
