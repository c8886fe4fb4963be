/**
 * Reference: node-oidc-provider's client_credentials token endpoint, one process, its default
 * in-memory adapter, a client_secret_basic client.
 */
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'bench-client',
    client_secret: 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
});
// Its own warnings (development keys, in-memory adapter) are expected here.
provider.on('server_error', (_ctx: unknown, err: Error) => process.stderr.write(`oidc server_error ${err.message}\n`));
provider.listen(port, '127.0.0.1');
