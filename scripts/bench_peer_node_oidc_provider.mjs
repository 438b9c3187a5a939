// The peer of `scripts/bench --peer node-oidc-provider`: node-oidc-provider configured for the
// bench's scenarios and nothing else. scripts/benchmark.py copies this file next to the npm
// install (outside the repository, ~/.cache/idp-bench/peer by default) and runs it there.
//
//   PEER_PORT       port on 127.0.0.1
//   PEER_ISSUER     issuer (http://127.0.0.1:PEER_PORT)
//   PEER_CLIENT_ID, PEER_CLIENT_SECRET   the one static client (client_secret_basic)
//
// What it serves, to match idp's scenarios:
//   - one client allowed only the client_credentials grant;
//   - client_credentials with no `resource`: an ES256-signed JWT access token (RFC 9068) for
//     https://jwt.bench.example, like idp's;
//   - client_credentials with resource=https://opaque.bench.example: an opaque token, the only
//     kind its introspection endpoint answers for (it refuses to introspect its own JWTs);
//   - the keys: one ES256 key generated at start. Tokens live in its default in-memory adapter
//     (idp keeps its state in its database: the comparison favours the peer there).
// Production mode (NODE_ENV=production), no development interactions, logging off.
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const JWT_RESOURCE = 'https://jwt.bench.example';
const OPAQUE_RESOURCE = 'https://opaque.bench.example';

const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench-es256' };

const provider = new Provider(process.env.PEER_ISSUER, {
  clients: [{
    client_id: process.env.PEER_CLIENT_ID,
    client_secret: process.env.PEER_CLIENT_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',  // its default (RS256) needs a key it has not
  }],
  jwks: { keys: [signingKey] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? JWT_RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => {
        if (resource === OPAQUE_RESOURCE) {
          return { scope: 'api', audience: OPAQUE_RESOURCE, accessTokenFormat: 'opaque', accessTokenTTL: 3600 };
        }
        if (resource === JWT_RESOURCE) {
          return {
            scope: 'api', audience: JWT_RESOURCE, accessTokenFormat: 'jwt', accessTokenTTL: 3600,
            jwt: { sign: { alg: 'ES256' } },
          };
        }
        throw new Provider.errors.InvalidTarget();
      },
    },
  },
});

// Any 5xx is a bench failure: say why on stderr (the bench shows the log).
provider.on('server_error', (_ctx, error) => { process.stderr.write(`${error.stack}\n`); });

createServer(provider.callback()).listen(Number(process.env.PEER_PORT), '127.0.0.1', () => {
  process.stdout.write(`listening on ${process.env.PEER_ISSUER}\n`);
});
