// Passkeys (W3C WebAuthn Level 2): fetch the options from the server, call the browser's
// navigator.credentials.create/get, post the JSON answer in the form's hidden field.
(function () {
  "use strict";
  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }
  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function options(form) {
    var csrf = form.querySelector("input[name=csrf_token]").value;
    return fetch(form.dataset.options, {method: "POST", credentials: "same-origin",
                                        headers: {"X-CSRFToken": csrf, "Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error("options"); } return r.json(); });
  }
  function fail(form) {
    var error = form.querySelector(".error");
    if (error) { error.hidden = false; }
  }
  var assertForm = document.getElementById("passkey-assert");
  if (assertForm) {
    document.getElementById("passkey-button").addEventListener("click", function () {
      options(assertForm).then(function (o) {
        o.challenge = toBytes(o.challenge);
        (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.get({publicKey: o});
      }).then(function (cred) {
        var r = cred.response;
        document.getElementById("passkey-credential").value = JSON.stringify({
          id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
          response: {clientDataJSON: toB64url(r.clientDataJSON), authenticatorData: toB64url(r.authenticatorData),
                     signature: toB64url(r.signature),
                     userHandle: r.userHandle ? toB64url(r.userHandle) : null},
          clientExtensionResults: cred.getClientExtensionResults(), authenticatorAttachment: cred.authenticatorAttachment
        });
        assertForm.submit();
      }).catch(function () { fail(assertForm); });
    });
  }
  var registerForm = document.getElementById("passkey-register");
  if (registerForm) {
    registerForm.addEventListener("submit", function (event) {
      if (document.getElementById("passkey-credential").value) { return; }
      event.preventDefault();
      options(registerForm).then(function (o) {
        o.challenge = toBytes(o.challenge);
        o.user.id = toBytes(o.user.id);
        (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.create({publicKey: o});
      }).then(function (cred) {
        var r = cred.response;
        document.getElementById("passkey-credential").value = JSON.stringify({
          id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
          response: {clientDataJSON: toB64url(r.clientDataJSON), attestationObject: toB64url(r.attestationObject),
                     transports: r.getTransports ? r.getTransports() : []},
          clientExtensionResults: cred.getClientExtensionResults(), authenticatorAttachment: cred.authenticatorAttachment
        });
        registerForm.submit();
      }).catch(function () { fail(registerForm); });
    });
  }
}());
