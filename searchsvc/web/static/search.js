// Search-as-you-type for the search box: suggestions from /api/suggest, keyboard
// navigable (↑/↓/Enter/Esc), and "/" focuses the box. Without JavaScript the form
// works as a plain GET form; nothing here is needed for searching.
(function () {
  "use strict";
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  var form = input && input.form;
  if (!input || !list || !form || !window.fetch) { return; }

  var items = [];
  var active = -1;
  var timer = null;
  var lastAsked = "";

  function close() {
    list.hidden = true;
    list.textContent = "";
    items = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    items.forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
    active = index;
    if (index >= 0) { input.setAttribute("aria-activedescendant", items[index].id); }
    else { input.removeAttribute("aria-activedescendant"); }
  }

  function choose(text) {
    input.value = text;
    close();
    form.submit();
  }

  function show(suggestions) {
    list.textContent = "";
    items = suggestions.map(function (text, i) {
      var li = document.createElement("li");
      li.id = "suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.textContent = text;  // text, never HTML
      li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(text); });
      list.appendChild(li);
      return li;
    });
    active = -1;
    list.hidden = items.length === 0;
    input.setAttribute("aria-expanded", items.length ? "true" : "false");
  }

  function ask() {
    var prefix = input.value.trim();
    if (!prefix || prefix.length > 200) { close(); return; }
    lastAsked = prefix;
    fetch("/api/suggest?q=" + encodeURIComponent(prefix), { headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
      .then(function (body) { if (body.query === lastAsked && input.value.trim() === lastAsked) { show(body.suggestions || []); } })
      .catch(close);
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 80);
  });
  input.addEventListener("keydown", function (event) {
    if (list.hidden || !items.length) { return; }
    if (event.key === "ArrowDown") { event.preventDefault(); highlight((active + 1) % items.length); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active <= 0 ? items.length - 1 : active - 1); }
    else if (event.key === "Enter" && active >= 0) { event.preventDefault(); choose(items[active].textContent); }
    else if (event.key === "Escape") { event.preventDefault(); close(); }
  });
  input.addEventListener("blur", function () { setTimeout(close, 100); });
  document.addEventListener("keydown", function (event) {
    var tag = (document.activeElement && document.activeElement.tagName) || "";
    if (event.key === "/" && tag !== "INPUT" && tag !== "TEXTAREA" && !event.metaKey && !event.ctrlKey) {
      event.preventDefault();
      input.focus();
      input.select();
    }
  });
}());
