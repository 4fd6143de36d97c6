/** Help texts and the version: what `portcullis --help` and `portcullis <command> --help` print. */
import { readFileSync } from 'node:fs';

/** A mistake in how the command was called (exit 2), as opposed to a failure doing it (exit 1). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const DEFAULT_CONFIG_PATH = 'portcullis.yaml';

export const COMMAND_USAGE: Record<string, string> = {
  serve: `Usage: portcullis serve [--config FILE] [--port N] [--host H]

Start the gateway and print the URL clients connect to. Ctrl-C stops it gracefully.

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
  -p, --port N        listen on this port instead of server.port (0: any free port)
      --host H        bind this address instead of server.host
`,
  init: `Usage: portcullis init [--dir D] [--force] [--tls]

Write a commented starter portcullis.yaml (filesystem + memory servers behind a "default" virtual server),
its JSON Schema, and a sample/ folder for the filesystem server.

  -d, --dir D         folder to write into (default: the current folder)
  -f, --force         overwrite an existing portcullis.yaml (and, with --tls, the server certificate)
      --tls           also create development certificates in D/certs and print the settings that enable HTTPS
`,
  certs: `Usage: portcullis certs init [--dir D] [--hosts H,H...] [--force]
       portcullis certs client NAME [--dir D] [--uri URI]... [--email ADDR]... [--force]

Development certificates for HTTPS and mutual TLS (docs/tls.md). Private keys are written with mode 0600.

  init                a private CA (ca.pem, ca.key; reused if present) and a server certificate
                      (server.pem, server.key)
  client NAME         a client certificate signed by that CA (client-NAME.pem, client-NAME.key),
                      CN=NAME, SAN URI spiffe://portcullis/client/NAME unless --uri is given

  -d, --dir D         certificate folder (default: ./certs)
      --hosts H,...   names and addresses the server certificate covers (default: localhost,127.0.0.1,::1)
      --uri URI       a SAN URI for the client certificate (repeatable)
      --email ADDR    a SAN email address for the client certificate (repeatable)
  -f, --force         replace an existing server or client certificate
`,
  servers: `Usage: portcullis servers list [--config FILE]
       portcullis servers diff NAME [--config FILE]
       portcullis servers approve NAME [--config FILE]

Review and approve what upstream servers offer. Each command connects to the upstreams itself and fetches their
tools, prompts, resources and templates. "list" shows every server: approved or not, drifted items, scan findings
and name collisions; "diff" shows one server's changes since its approval, readably; "approve" stores its current
definitions as the approved pins. Gateways on the same storage use new pins within a second; until then, and for
anything changed or new since, the items stay quarantined (docs/guardrails.md).

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
`,
  sessions: `Usage: portcullis sessions revoke ID [--config FILE]
       portcullis sessions revoke --user WHO [--config FILE]

End a 2025-era client session, or every session of a user (a subject, or "{issuer} {subject}"), on every gateway
sharing this configuration's storage. Running gateways pick the revocation up within two seconds.

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
      --user WHO      revoke every session this principal holds
`,
  user: `Usage: portcullis user add NAME [--groups G,G...] [--password-stdin] [--config FILE]
       portcullis user list [--config FILE]
       portcullis user remove NAME [--config FILE]
       portcullis user passwd NAME [--password-stdin] [--config FILE]
       portcullis user consents NAME [--config FILE]
       portcullis user revoke NAME --client ID [--config FILE]

Local accounts of the built-in authorization server, kept in the configured storage (not "memory").
Without --password-stdin the password is asked twice on the terminal, without echo. Removing an account or
changing its password revokes its sessions, grants and tokens. Groups (e.g. admin, approver) become the
roles in its access tokens. "consents" lists the clients an account approved; "revoke" forgets one and
revokes that client's grants, so its tokens are refused within a second. docs/authorization-server.md explains
accounts, consent and federation.

  -g, --groups G,G    groups of a new account
      --client ID     the client whose consent to revoke
      --password-stdin read the password from stdin (one line)
  -c, --config FILE   configuration file (default: ./portcullis.yaml)
`,
  policy: `Usage: portcullis policy explain --principal P (--tool S/T | --prompt S/P | --resource S/URI | --template S/URI | --server S)
                                [--action A] [--args JSON] [--annotations JSON] [--tags T,T] [--time ISO] [--config FILE]
       portcullis policy test [TABLE...] [--config FILE]

explain: the decision the configuration's policy makes for one request, and every rule it considered.
test:    runs tables of expected decisions (default: policy-tests.yaml beside the configuration); exits 1 when a
         case fails, 2 when the policy or a table is invalid. See docs/policy.md.

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
  -p, --principal P   JSON, or key=value pairs: subject, role, group, scope (repeatable), tenant, client, issuer,
                      method, attr.NAME (e.g. 'subject=alice,role=analyst,attr.customer_id=c-1')
      --action A      call, read, get, complete, subscribe, or list (is it shown?); default: the item's main use
      --args JSON     the call's arguments, e.g. '{"path":"/srv/reports/q1.txt"}'
      --annotations J the tool's annotations as its server declares them, e.g. '{"readOnlyHint":true}'
                      (overrides in the configuration win, as in the gateway)
`,
  check: `Usage: portcullis check [--config FILE]

Validate a configuration file and report every problem with its line and column. Exits 1 when invalid.

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
`,
  stdio: `Usage: portcullis stdio [--config FILE] [--server NAME | --virtual NAME]

Serve one upstream or virtual server over stdin/stdout, for clients that only launch local processes.
Without --server or --virtual: the virtual server "default", else the only virtual server, else the only upstream.

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
      --server NAME   serve this upstream
      --virtual NAME  serve this virtual server
`,
};

export const USAGE = `Usage: portcullis <command> [options]

A secure gateway for Model Context Protocol servers.

Commands:
  serve    start the gateway (HTTP)
  stdio    serve one upstream or virtual server over stdin/stdout
  init     write a starter portcullis.yaml
  check    validate a configuration file
  certs    create development certificates for HTTPS and mutual TLS
  sessions revoke client sessions
  servers  review and approve what upstream servers offer (pins)
  policy   explain a policy decision, or test a table of expected decisions
  user     manage the built-in authorization server's accounts

Options:
  -h, --help       show help (also: portcullis <command> --help)
  -v, --version    show the version

Run "portcullis init" then "portcullis serve" to get started.
`;

/** Walks up from this file: the same code runs from src/cli (tsx) and dist/src/cli (built). */
export function version(): string {
  for (let url = new URL('./', import.meta.url); url.pathname !== '/'; url = new URL('../', url)) {
    try {
      const meta = JSON.parse(readFileSync(new URL('package.json', url), 'utf8')) as { name?: string; version?: string };
      if (meta.name === 'portcullis' && meta.version) return meta.version;
    } catch {
      // keep walking
    }
  }
  return 'unknown';
}
