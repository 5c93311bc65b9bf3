// The live agenda and the dashboard's small helpers. No framework; the page works without it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (live && live.dataset.poll) {
    var busy = false;
    var typing = function () {
      var el = document.activeElement;
      return el && live.contains(el) && (el.tagName === "TEXTAREA" || el.tagName === "SELECT") ||
        Array.prototype.some.call(live.querySelectorAll("textarea"), function (t) { return t.value !== ""; });
    };
    var refresh = function () {
      if (busy || document.hidden || typing()) { return; }
      busy = true;
      fetch(live.dataset.poll + window.location.search, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== live.dataset.last) {
            live.dataset.last = html;
            live.innerHTML = html;
          }
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { busy = false; });
    };
    window.setInterval(refresh, Number(live.dataset.every || 3000));
  }
  // « Tout cocher » on the attendance form, and the calendar link's copy button.
  Array.prototype.forEach.call(document.querySelectorAll("[data-check-all]"), function (box) {
    box.hidden = false;
    box.addEventListener("click", function () {
      var form = box.closest("form");
      var all = form.querySelectorAll("input[type=checkbox][name=" + box.dataset.checkAll + "]");
      var on = Array.prototype.some.call(all, function (c) { return !c.checked; });
      Array.prototype.forEach.call(all, function (c) { c.checked = on; });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-copy]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.dataset.copy);
      field.select();
      var done = function () { button.textContent = button.dataset.done; };
      if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); }); }
      else { document.execCommand("copy"); done(); }
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
}());
