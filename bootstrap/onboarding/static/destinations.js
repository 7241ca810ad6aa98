// The Destinations section: list, add, test, disable, deliveries and retry, through the JSON API.
(function () {
  "use strict";
  var root = document.getElementById("onboarding");
  var section = document.getElementById("destinations");
  if (!root || !section) { return; }
  var headers = { "Authorization": "Bearer " + root.dataset.token, "Content-Type": "application/json" };
  var shown = null;

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  function call(method, path, body) {
    return fetch(path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (response) {
        return response.status === 204 ? {} : response.json().then(function (data) {
          if (!response.ok) { throw new Error(data.error || ("HTTP " + response.status)); }
          return data;
        });
      });
  }

  function alert(text, kind) {
    var box = document.getElementById("dest-alerts");
    box.appendChild(el("div", text, "alert " + (kind || "error")));
  }

  function button(text, action) {
    var node = el("button", text, "secondary");
    node.type = "button";
    node.addEventListener("click", function () { action().catch(function (e) { alert(e.message); }); });
    return node;
  }

  function load() {
    return call("GET", "/api/destinations").then(function (data) {
      var rows = document.getElementById("dest-rows");
      rows.textContent = "";
      document.getElementById("dest-alerts").textContent = "";
      document.getElementById("dest-table").hidden = data.destinations.length === 0;
      data.destinations.forEach(function (dest) {
        var row = el("tr");
        row.dataset.id = dest.id;
        row.appendChild(el("td", dest.url + (dest.description ? " (" + dest.description + ")" : "")));
        row.appendChild(el("td", dest.actions ? dest.actions.join(", ") : "all recognised"));
        row.appendChild(el("td", dest.enabled ? "enabled" : "disabled", "dest-state"));
        var cell = el("td");
        cell.appendChild(button("Test", function () {
          return call("POST", "/api/destinations/" + dest.id + "/test").then(function () { return deliveries(dest); });
        }));
        cell.appendChild(button("Deliveries", function () { return deliveries(dest); }));
        cell.appendChild(button(dest.enabled ? "Disable" : "Enable", function () {
          return call("PATCH", "/api/destinations/" + dest.id, { enabled: !dest.enabled }).then(load);
        }));
        cell.appendChild(button("Remove", function () {
          return call("DELETE", "/api/destinations/" + dest.id).then(load);
        }));
        row.appendChild(cell);
        rows.appendChild(row);
        if (!dest.enabled && dest.disabled_reason) { alert(dest.url + ": " + dest.disabled_reason, "warn"); }
      });
    });
  }

  function deliveries(dest) {
    shown = dest;
    return call("GET", "/api/destinations/" + dest.id + "/deliveries").then(function (data) {
      document.getElementById("dest-deliveries").hidden = false;
      document.getElementById("dest-deliveries-url").textContent = dest.url;
      var rows = document.getElementById("dest-delivery-rows");
      rows.textContent = "";
      data.deliveries.forEach(function (item) {
        var row = el("tr", null, "delivery state-" + item.state);
        row.appendChild(el("td", (item.event_id ? "event " + item.event_id : "test") + " · " + item.webhook_id));
        row.appendChild(el("td", item.state, "delivery-state"));
        var last = item.attempts[item.attempts.length - 1];
        row.appendChild(el("td", !last ? "none yet" : item.attempts.length + " · last: " +
          (last.status_code || "no answer") + " in " + last.latency_ms + " ms" + (last.error ? " (" + last.error + ")" : "")));
        var cell = el("td");
        if (item.state !== "delivered") {
          cell.appendChild(button("Retry", function () {
            return call("POST", "/api/deliveries/" + item.id + "/retry").then(function () { return deliveries(dest); });
          }));
        }
        row.appendChild(cell);
        rows.appendChild(row);
      });
    });
  }

  document.getElementById("dest-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var actions = document.getElementById("dest-actions").value.split(",")
      .map(function (a) { return a.trim(); }).filter(Boolean);
    call("POST", "/api/destinations", {
      url: document.getElementById("dest-url").value.trim(),
      description: document.getElementById("dest-description").value.trim(),
      actions: actions.length ? actions : null
    }).then(function (created) {
      var secret = document.getElementById("dest-secret");
      secret.querySelector("code").textContent = created.secret;
      secret.hidden = false;
      ["dest-url", "dest-actions", "dest-description"].forEach(function (id) { document.getElementById(id).value = ""; });
      return load();
    }).catch(function (e) { alert(e.message); });
  });

  load().catch(function (e) { alert("Could not list the destinations: " + e.message); });
  setInterval(function () { if (shown) { deliveries(shown).catch(function () {}); } }, 3000);
}());
