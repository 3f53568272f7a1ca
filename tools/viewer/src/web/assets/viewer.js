// hyperion-viewer: the page's only script. Opens a span's details on click (filling in its
// resource from a template shared by the spans of that resource), opens the span named in the
// URL's #span-<id>, and makes whole trace-list rows clickable.
(function () {
  "use strict";
  function open(span, scroll) {
    var detail = span.querySelector(":scope > .detail");
    if (!detail) return;
    var slot = detail.querySelector("[data-resource]");
    if (slot) {
      var template = document.getElementById(slot.getAttribute("data-resource"));
      if (template) slot.replaceWith(template.content.cloneNode(true));
    }
    var show = detail.hidden;
    detail.hidden = !show;
    span.classList.toggle("selected", show);
    span.querySelector(":scope > .row").setAttribute("aria-expanded", String(show));
    if (scroll) span.scrollIntoView({ block: "center" });
  }
  document.addEventListener("click", function (event) {
    var row = event.target.closest(".span > .row");
    if (row) { open(row.parentElement, false); return; }
    var tr = event.target.closest("tr[data-href]");
    if (tr && !event.target.closest("a")) window.location = tr.getAttribute("data-href");
  });
  document.addEventListener("keydown", function (event) {
    var row = event.target.closest && event.target.closest(".span > .row");
    if (row && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); open(row.parentElement, false); }
  });
  var match = /^#span-([0-9a-f]{16})$/.exec(window.location.hash);
  if (match) {
    var span = document.getElementById("span-" + match[1]);
    if (span) open(span, true);
  }
})();
