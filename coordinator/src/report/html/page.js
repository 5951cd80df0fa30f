(function () {
  var svg = document.getElementById('timeline-chart');
  if (!svg) return;
  var box = svg.viewBox.baseVal, full = { x: box.x, w: box.width };
  svg.addEventListener('wheel', function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect();
    var at = box.x + (e.clientX - r.left) / r.width * box.width;
    var w = Math.min(full.w, Math.max(full.w / 200, box.width * (e.deltaY > 0 ? 1.25 : 0.8)));
    box.x = Math.max(full.x, Math.min(full.x + full.w - w, at - (at - box.x) * w / box.width));
    box.width = w;
  }, { passive: false });
  svg.addEventListener('dblclick', function () { box.x = full.x; box.width = full.w; });
})();
