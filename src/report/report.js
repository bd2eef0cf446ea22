(function () {
  var sources = {};   // sha256 -> base64, once its bundle ran
  var urls = {};      // sha256 -> blob: URL, once decoded
  var waiting = {};   // sha256 -> the viewers waiting for it
  var requested = {}; // bundle -> its script was added
  function url(sha) {
    if (!urls[sha]) {
      var text = atob(sources[sha]);
      var bytes = new Uint8Array(text.length);
      for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      urls[sha] = URL.createObjectURL(new Blob([bytes], { type: 'model/gltf-binary' }));
      delete sources[sha];
    }
    return urls[sha];
  }
  window.meshToolkitModel = function (sha, base64) {
    if (urls[sha] || sources[sha]) return;
    sources[sha] = base64;
    (waiting[sha] || []).forEach(function (viewer) { viewer.src = url(sha); });
    delete waiting[sha];
  };
  function load(viewer) {
    var sha = viewer.dataset.sha256, bundle = viewer.dataset.bundle;
    if (urls[sha] || sources[sha]) { viewer.src = url(sha); return; }
    (waiting[sha] = waiting[sha] || []).push(viewer);
    if (requested[bundle]) return;
    requested[bundle] = true;
    var script = document.createElement('script');
    script.src = 'models/' + bundle + '.js';
    script.onerror = function () {
      console.error('mesh-toolkit report: cannot load models/' + bundle + '.js: keep the models directory beside index.html');
    };
    document.body.appendChild(script);
  }
  var viewers = document.querySelectorAll('model-viewer[data-sha256]');
  if (!('IntersectionObserver' in window)) { viewers.forEach(load); return; }
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      observer.unobserve(entry.target);
      load(entry.target);
    });
  }, { rootMargin: '300px' });
  viewers.forEach(function (viewer) { observer.observe(viewer); });
})();
