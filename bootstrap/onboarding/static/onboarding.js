// The onboarding page's live progress: polls the JSON state with the page's own token.
(function () {
  "use strict";
  var root = document.getElementById("onboarding");
  if (!root) { return; }
  var token = root.dataset.token;
  var api = root.dataset.api;
  var liveStates = root.dataset.liveStates.split(" ");
  var labels = JSON.parse(root.dataset.labels);
  var problemStates = ["failed", "timed_out", "drifted", "deleted"];
  var failures = 0;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function when(iso) {
    var date = new Date(iso);
    // The same form as the server renders: UTC, to the second.
    return isNaN(date.getTime()) ? iso : date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function renderTimes(state) {
    var times = document.getElementById("times");
    times.textContent = "";
    if (state.started_at) { times.appendChild(document.createTextNode("Started " + when(state.started_at))); }
    if (state.verified_at) { times.appendChild(document.createTextNode(" · verified " + when(state.verified_at))); }
  }

  function render(state) {
    document.getElementById("progress").hidden = !state.attempt_id;
    root.dataset.state = state.state;
    var pill = document.getElementById("state");
    pill.className = "pill state-" + state.state;
    var undo = state.kind === "undo";
    pill.textContent = undo && state.state === "verified" ? "Restored" : (labels[state.state] || state.state);
    document.getElementById("progress-kind").textContent = undo ? "Undo" : "Progress";
    var list = document.getElementById("steps");
    list.textContent = "";
    (state.steps || []).forEach(function (step) {
      var item = el("li", "step status-" + step.status);
      item.appendChild(el("span", "icon"));
      item.appendChild(el("span", "name", step.label || step.name));
      item.appendChild(el("span", "status", step.status));
      if (step.detail) { item.appendChild(el("span", "detail", step.detail)); }
      list.appendChild(item);
    });
    var advice = document.getElementById("advice");
    advice.textContent = state.advice || "";
    advice.hidden = !state.advice;
    var message = document.getElementById("message");
    // A failed step already shows the message as its detail; say it once.
    var inSteps = (state.steps || []).some(function (step) { return step.detail === state.message; });
    var showMessage = Boolean(state.message) && !inSteps && problemStates.indexOf(state.state) !== -1;
    message.textContent = showMessage ? state.message : "";
    message.hidden = !showMessage;
    document.getElementById("undo-form").hidden =
      !(state.kind === "apply" && ["planned", "applying"].indexOf(state.state) === -1);
    renderTimes(state);
  }

  function schedule(state) {
    if (liveStates.indexOf(state) === -1) { return; }
    // A timed-out attempt still turns verified when a test webhook arrives: keep looking, slower.
    var delay = state === "timed_out" ? 2000 : 700;
    window.setTimeout(poll, Math.min(delay * Math.pow(2, failures), 30000));
  }

  function poll() {
    fetch(api, {
      headers: { "Authorization": "Bearer " + token, "Accept": "application/json" },
      cache: "no-store",
      credentials: "omit"
    }).then(function (response) {
      if (!response.ok) { throw new Error("status " + response.status); }
      return response.json();
    }).then(function (state) {
      failures = 0;
      var before = root.dataset.state;
      render(state);
      if (liveStates.indexOf(before) !== -1 && liveStates.indexOf(state.state) === -1) {
        // The attempt has ended: reload once so the diff shows the settings as they are now.
        window.location.reload();
        return;
      }
      schedule(state.state);
    }).catch(function () {
      failures += 1;
      schedule(root.dataset.state);
    });
  }

  // Live preview of the service-point rows, and the "at least one carrier" rule.
  var enabled = document.getElementById("sp-enabled");
  var carriers = document.getElementById("sp-carriers");
  var ticks = Array.prototype.slice.call(document.querySelectorAll("#carrier-list input"));
  var form = document.getElementById("apply-form");
  // Rendered disabled while an attempt is still applying; the page reloads when it ends.
  var busy = Boolean(form && document.getElementById("apply").disabled);

  function setRow(field, text) {
    var row = document.querySelector('#diff tr[data-field="' + field + '"]');
    if (!row) { return; }
    row.querySelector(".planned").textContent = text;
    var changed = row.querySelector(".current").textContent !== text;
    row.className = changed ? "changed" : "same";
  }

  function carrierList() {
    // Ticked boxes of the carriers Sendcloud offers, or the text field when it could not say.
    var typed = carriers ? carriers.value.split(",") : ticks.filter(function (box) {
      return box.checked;
    }).map(function (box) { return box.value; });
    return typed.map(function (c) { return c.trim().toLowerCase(); })
      .filter(function (c, i, all) { return c && all.indexOf(c) === i; });
  }

  function preview() {
    var list = carrierList();
    setRow("service_point_enabled", enabled.checked ? "on" : "off");
    setRow("service_point_carriers", list.length ? list.join(", ") : "none");
    var missing = enabled.checked && list.length === 0;
    document.getElementById("carriers-error").hidden = !missing;
    if (carriers) { carriers.setAttribute("aria-invalid", missing ? "true" : "false"); }
    document.getElementById("apply").disabled = missing || busy;
  }

  if (form && enabled) {
    enabled.addEventListener("change", preview);
    if (carriers) { carriers.addEventListener("input", preview); }
    ticks.forEach(function (box) { box.addEventListener("change", preview); });
    form.addEventListener("submit", function () {
      document.getElementById("apply").disabled = true;
    });
  }
  schedule(root.dataset.state);
})();
