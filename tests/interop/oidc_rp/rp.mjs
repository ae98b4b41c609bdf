// A relying party on the npm registry's openid-client (v6), signing in to Rose Ash.
//
// Driven by tests/interop/test_oidc_client.py over stdin/stdout (one JSON object a line):
//   1. discovery, then prints {"authorization_url"} (PKCE S256, state, nonce);
//   2. reads the callback URL the browser was sent to, redeems the code (openid-client checks
//      state, PKCE, the ID token's iss/aud/exp/iat/nonce), verifies the ID token's RS256
//      signature against the JWKS, asks UserInfo, refreshes and asks UserInfo again, and
//      prints what it saw with the end-session URL for RP-initiated logout.
// The issuer is plain HTTP on loopback, so the one relaxation is allowInsecureRequests.
import * as client from "openid-client";
import { createInterface } from "node:readline";
import { createPublicKey, verify } from "node:crypto";

const env = process.env;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (value) => process.stdout.write(JSON.stringify(value) + "\n");
const b64url = (s) => Buffer.from(s, "base64url");

async function verifySignature(config, idToken) {
  const [header, payload, signature] = idToken.split(".");
  const { kid, alg } = JSON.parse(b64url(header).toString());
  if (alg !== "RS256") throw new Error(`unexpected alg ${alg}`);
  const jwks = await (await fetch(config.serverMetadata().jwks_uri)).json();
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (!jwk) throw new Error(`no key ${kid} in the JWKS`);
  const key = createPublicKey({ key: jwk, format: "jwk" });
  return verify("sha256", Buffer.from(`${header}.${payload}`), key, b64url(signature));
}

async function main() {
  const options = { execute: [client.allowInsecureRequests] };
  const config = await client.discovery(
    new URL(env.ISSUER),
    env.CLIENT_ID,
    env.CLIENT_SECRET || undefined,
    env.CLIENT_SECRET ? client.ClientSecretBasic(env.CLIENT_SECRET) : client.None(),
    options,
  );
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: env.REDIRECT_URI,
    scope: "openid profile email roles",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  say({ authorization_url: url.href });

  const callback = (await lines.next()).value;
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const signatureValid = await verifySignature(config, tokens.id_token);
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const userinfoAfterRefresh = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: env.POST_LOGOUT_REDIRECT_URI,
    state: "bye",
  });
  say({
    claims,
    signature_valid: signatureValid,
    userinfo,
    refreshed: refreshed.access_token !== tokens.access_token,
    userinfo_after_refresh: userinfoAfterRefresh,
    end_session_url: endSession.href,
    metadata: {
      backchannel_logout_supported: config.serverMetadata().backchannel_logout_supported,
    },
  });
}

main().catch((error) => {
  say({ error: String(error), code: error.code, cause: error.cause ? String(error.cause) : null });
  process.exit(1);
});
