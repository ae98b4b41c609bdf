// The events widget for partner websites, as a script (docs/embedding-events.md):
//   <div data-rose-events="upcoming" data-theme="dark" data-count="3"></div>
//   <script src="https://<events host>/static/js/events-widget.js" async></script>
// Each such element is filled with the widget from /embed/<upcoming|month>?part=1 on the host
// the script came from; the events app answers only websites staff listed (CORS).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src).origin;
  var PARAMS = ["theme", "accent", "calendar", "tag", "count"];
  var styled = false;

  function style() {
    if (styled) return;
    styled = true;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = base + "/static/css/widgets.css";
    document.head.appendChild(link);
  }

  function fill(element) {
    var kind = element.getAttribute("data-rose-events");
    if (kind !== "upcoming" && kind !== "month") return;
    var query = new URLSearchParams({ part: "1" });
    PARAMS.forEach(function (name) {
      var value = element.getAttribute("data-" + name);
      if (value) query.set(name, value);
    });
    fetch(base + "/embed/" + kind + "?" + query.toString(), { credentials: "omit" })
      .then(function (response) {
        if (!response.ok) throw new Error("refused");
        return response.text();
      })
      .then(function (html) {
        style();
        var accent = element.getAttribute("data-accent");
        if (accent && /^[0-9a-fA-F]{6}$/.test(accent)) {
          var theme = document.createElement("link");
          theme.rel = "stylesheet";
          theme.href = base + "/embed/theme.css?accent=" + accent.toLowerCase();
          document.head.appendChild(theme);
        }
        // The events app's own HTML (sanitized content, its templates).
        element.innerHTML = html;
      })
      .catch(function () {
        element.textContent = "";
      });
  }

  document.querySelectorAll("[data-rose-events]").forEach(fill);
})();
