// The demo app's page: asks its own backend for an H5 address, opens it in the "WebView" frame,
// and says what really happened (the page reports its state to the frame's parent).
(function () {
  'use strict';
  var statusEl = document.getElementById('status');
  var frame = document.getElementById('webview');
  var phone = document.getElementById('phone');
  var userSel = document.getElementById('user');
  var h5Origin = document.body.getAttribute('data-h5-origin');
  var pending = false;
  var current = null; // { button, productName, userName, timer }
  function setStatus(text) { statusEl.textContent = text; }
  function userName() { return userSel.options[userSel.selectedIndex].text; }

  // The H5 page posts {type: "h5-broker:state", state, code} and {type: "h5-broker:back", code}.
  window.addEventListener('message', function (event) {
    if (event.origin !== h5Origin || event.source !== frame.contentWindow || !current) return;
    var msg = event.data || {};
    if (msg.type === 'h5-broker:state') {
      clearTimeout(current.timer);
      if (msg.state === 'ready') setStatus(current.productName + ' is open for ' + current.userName + '.');
      else if (msg.state === 'error') setStatus(current.productName + ' could not be shown (' + String(msg.code) + ').');
    } else if (msg.type === 'h5-broker:back') {
      frame.removeAttribute('src');
      setStatus('Back from ' + current.productName + '.');
      current.button.focus();
    }
  });

  Array.prototype.forEach.call(document.querySelectorAll('button.open'), function (button) {
    button.addEventListener('click', function () {
      // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
      if (pending) return;
      pending = true;
      button.setAttribute('aria-disabled', 'true');
      var productId = button.getAttribute('data-product-id');
      var productName = button.getAttribute('data-product-name');
      var who = userName();
      if (current) clearTimeout(current.timer);
      current = { button: button, productName: productName, userName: who, timer: 0 };
      setStatus('Opening ' + productName + ' for ' + who + '…');
      fetch('/api/open', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ userId: userSel.value, productId: productId })
      }).then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) throw new Error(body.detail || 'The app could not open the product.');
          frame.src = body.url;
          // On a phone the WebView sits below the list: bring it into view (focus stays here).
          if (phone.getBoundingClientRect().top > window.innerHeight * 0.5) {
            var reduce = window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
            phone.scrollIntoView({ block: 'start', behavior: reduce ? 'auto' : 'smooth' });
          }
          var mine = current;
          mine.timer = setTimeout(function () {
            if (current === mine) setStatus(productName + ' did not load in the WebView.');
          }, 15000);
        });
      }).catch(function (err) {
        setStatus(err.message);
      }).then(function () {
        pending = false;
        button.removeAttribute('aria-disabled');
      });
    });
  });
})();
