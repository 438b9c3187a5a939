// "Sign in with the app": poll the request's status every 1.5 s; once the app approved,
// continue (post the form). Without JavaScript the citizen presses "Continue" instead.
(function () {
  "use strict";
  var form = document.getElementById("app-continue");
  if (!form || !window.fetch) { return; }
  var status = document.getElementById("app-status");
  status.textContent = form.dataset.waiting;
  function poll() {
    fetch(form.dataset.status, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (answer) {
        if (answer.status === "approved") { form.submit(); return; }
        if (answer.status === "pending") { setTimeout(poll, 1500); return; }
        status.textContent = form.dataset.expired;
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1500);
}());
