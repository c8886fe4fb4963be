// The demo app's page: asks its own backend for an H5 address, opens it in the "WebView" frame.
(function () {
  'use strict';
  var statusEl = document.getElementById('status');
  var frame = document.getElementById('webview');
  var userSel = document.getElementById('user');
  function setStatus(text) { statusEl.textContent = text; }
  Array.prototype.forEach.call(document.querySelectorAll('button.open'), function (button) {
    button.addEventListener('click', function () {
      var productId = button.getAttribute('data-product-id');
      button.disabled = true;
      setStatus('Getting an access token…');
      fetch('/api/open', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ userId: userSel.value, productId: productId })
      }).then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) throw new Error(body.detail || 'The app could not open the product.');
          frame.src = body.url;
          setStatus('Opened ' + productId + ' for ' + userSel.value + '.');
        });
      }).catch(function (err) {
        setStatus(err.message);
      }).then(function () { button.disabled = false; });
    });
  });
})();
