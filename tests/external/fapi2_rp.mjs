// A FAPI 2.0 relying party built on oauth4webapi (a certified OpenID relying-party library):
// PAR + private_key_jwt + PKCE + DPoP through to a UserInfo call, against a live idp.
//
// Input (environment): IDP_ISSUER, CLIENT_ID, CLIENT_JWK (the private JWK, ES256),
// REDIRECT_URI, OAUTH4WEBAPI (file URL of the library's module).
// Prints one JSON line {"authorize": URL}, reads the callback URL on stdin, then prints one
// JSON line with what it received (or {"error": ...}).
import { createInterface } from 'node:readline';

const oauth = await import(process.env.OAUTH4WEBAPI);
const insecure = { [oauth.allowInsecureRequests]: true }; // the test server is http on loopback

function out(value) { process.stdout.write(JSON.stringify(value) + '\n'); }

async function withNonce(call) {
  // RFC 9449 §8: oauth4webapi remembers a DPoP-Nonce; a use_dpop_nonce error is retried once.
  try { return await call(); } catch (err) {
    if (oauth.isDPoPNonceError(err)) return await call();
    throw err;
  }
}

try {
  const issuer = new URL(process.env.IDP_ISSUER);
  const as = await oauth.processDiscoveryResponse(
    issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }));
  const jwk = JSON.parse(process.env.CLIENT_JWK);
  const key = await crypto.subtle.importKey(
    'jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d },
    { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const client = { client_id: process.env.CLIENT_ID, id_token_signed_response_alg: 'ES256' };
  const clientAuth = oauth.PrivateKeyJwt({ key, kid: jwk.kid });
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const redirectUri = process.env.REDIRECT_URI;

  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const params = new URLSearchParams({
    redirect_uri: redirectUri, scope: 'openid profile', response_type: 'code', state, nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
  });
  const pushed = await withNonce(async () => oauth.processPushedAuthorizationResponse(
    as, client, await oauth.pushedAuthorizationRequest(as, client, clientAuth, params, { DPoP, ...insecure })));
  const authorize = new URL(as.authorization_endpoint);
  authorize.searchParams.set('client_id', client.client_id);
  authorize.searchParams.set('request_uri', pushed.request_uri);
  out({ authorize: authorize.href, expires_in: pushed.expires_in });

  const lines = createInterface({ input: process.stdin });
  const callback = await new Promise((resolve) => lines.once('line', resolve));
  lines.close();
  const callbackParams = oauth.validateAuthResponse(as, client, new URL(callback), state);
  const tokens = await withNonce(async () => oauth.processAuthorizationCodeResponse(
    as, client,
    await oauth.authorizationCodeGrantRequest(as, client, clientAuth, callbackParams, redirectUri,
      codeVerifier, { DPoP, ...insecure }),
    { expectedNonce: nonce, requireIdToken: true }));
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  const userinfo = await withNonce(async () => oauth.processUserInfoResponse(
    as, client, claims.sub,
    await oauth.userInfoRequest(as, client, tokens.access_token, { DPoP, ...insecure })));
  out({ token_type: tokens.token_type, sub: claims.sub, acr: claims.acr, userinfo });
} catch (err) {
  out({ error: String(err && err.message || err), code: err && err.code, cause: err && err.cause && String(err.cause.error || err.cause) });
  process.exitCode = 1;
}
