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
       portcullis servers show [NAME] [--config FILE]

Review and approve what upstream servers offer. Each command connects to the upstreams itself and fetches their
tools, prompts, resources and templates. "list" shows every server: approved or not, drifted items, scan findings
and name collisions; "diff" shows one server's changes since its approval, readably; "approve" stores its current
definitions as the approved pins. Gateways on the same storage use new pins within a second; until then, and for
anything changed or new since, the items stay quarantined (docs/guardrails.md). "show" starts nothing: it prints the
exact command line of each stdio server (with its bubblewrap sandbox and limits), its environment variable names
(never values) and folders, or why the configuration refuses it; exit 1 when one is refused (docs/sandbox.md).

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
`,
  approvals: `Usage: portcullis approvals list [--all | --status S] [--json] [--config FILE]
       portcullis approvals show ID [--json] [--config FILE]
       portcullis approvals approve ID [--reason TEXT] [--as NAME] [--config FILE]
       portcullis approvals deny ID --reason TEXT [--as NAME] [--config FILE]

Calls that an approval rule or the taint tracker holds for a human (docs/approvals.md). "list" shows the pending
ones (--all: every kept one); "show" prints everything an approver needs: caller, client, tool and server, the
arguments (hidden characters escaped), the reason and the guardrail findings. "approve" and "deny" decide as the
operator running the command (or --as NAME); the caller cannot approve their own call. Waiting calls see the
decision within a second, on every gateway sharing this configuration's storage. Decisions are audited.

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
      --all           list every kept approval, decided ones too
      --status S      list only pending, approved, denied or expired ones
      --json          machine-readable output
  -r, --reason TEXT   why (required to deny; the caller sees it)
      --as NAME       the approver's name in the record (default: the operating-system user)
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
                                [--action A] [--args JSON] [--annotations JSON] [--tags T,T] [--time ISO] [--taint T,T]
                                [--config FILE]
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
      --taint T,T     what the session has received (context.taint): untrusted, sensitive, secret,
                      personal-data, injection
`,
  credentials: `Usage: portcullis credentials list [--upstream NAME] [--config FILE]
       portcullis credentials revoke --user WHO --upstream NAME [--config FILE]

The upstream accounts users connected for upstreams with per-user credentials (credentials.mode: per-user); their
tokens are kept in the vault. See docs/credentials.md.

  list                who connected which upstream, and when; never tokens
  revoke              delete that user's tokens and revoke them at the upstream's authorization server; their next
                      call asks them to connect again

      --user WHO      the principal key ("issuer subject") or the subject
      --upstream NAME the upstream
  -c, --config FILE   configuration file (default: ./portcullis.yaml)
`,
  vault: `Usage: portcullis vault init [--config FILE]
       portcullis vault set NAME [--from-env VAR | --from-file FILE] [--config FILE]
       portcullis vault list [--config FILE]
       portcullis vault rm NAME [--config FILE]
       portcullis vault rotate [--config FILE]

The encrypted credential vault, kept in the configured storage (not "memory"); the configuration refers to its
secrets as \${secret:NAME} in upstream headers, stdio env and client secrets. Each secret is sealed with
AES-256-GCM under its own data key, wrapped by the vault key: the key file (default <dataDir>/vault.key, mode
0600) or PORTCULLIS_VAULT_KEY. Values are never printed. Running gateways read changed secrets on their next
reload (file change or SIGHUP). See docs/vault.md.

  init                create the key file unless it exists ("set" creates it too)
  set NAME            store a secret: the value comes from stdin (asked without echo on a terminal), never from
                      the command line, which ps and shell history would keep
  list                names, key id and dates; never values
  rm NAME             remove a secret
  rotate              add a new vault key, re-wrap every data key with it, retire the old key; gateways keep
                      reading throughout

      --from-env VAR  set: take the value from this environment variable
      --from-file F   set: take the value from this file (one trailing newline is dropped)
  -c, --config FILE   configuration file (default: ./portcullis.yaml)
`,
  measure: `Usage: portcullis measure [--config FILE] [--port N] [--host H] [--code-root DIR] [--live] [--json] [--show-config]

Print the measurement a gateway started with this build and configuration reports in its attestation document:
the code (dist/** or src/**, and package-lock.json), the configuration (secret values excluded), the pinned
definitions, and the hash of the tools it serves (docs/attestation.md). Run it on a clean build you made from
source and compare with what the gateway attests.

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
  -p, --port N        the --port the gateway is started with (it is part of the configuration)
      --host H        the --host the gateway is started with
      --live          hash the tools the upstreams serve now (connects to them), not the approved pins
      --json          machine-readable output
      --show-config   print the configuration exactly as it is measured, and nothing else
      --code-root DIR measure the build in DIR (DIR/dist/** and DIR/package-lock.json), e.g. one you rebuilt from
                      source, instead of the code this command runs from
`,
  attest: `Usage: portcullis attest verify URL --expect-measurement HEX [options]

Fetch a gateway's attestation document (URL: the gateway, or its /.well-known/mcp-attestation) and check it:
signature, nonce, freshness, measurement, served tools, the TLS key of this very connection, and in tee mode the
hardware quote (signature chain, TCB status, debug mode, MRTD/RTMRs, report_data). Prints every check; exits 0
when verified, 1 when not (docs/attestation.md).

      --expect-measurement HEX  what "portcullis measure" printed (required, or from --config)
      --expect-tools HEX        the tools hash you expect
      --expect-key KEY          the identity key pinned on an earlier visit (base64url)
      --nonce N                 your own nonce (16-128 base64url characters; default: random)
      --ca FILE                 extra CA certificates to trust (PEM), e.g. a private CA
      --allow-http              accept plain HTTP (nothing binds the connection; loopback tests only)
      --require-tee             refuse software mode
      --expect-mrtd HEX         TDX: expected MRTD (96 hex digits)
      --expect-rtmr N=HEX       TDX: expected RTMR N (0-3; repeatable)
      --accept-tcb STATUS       TCB status accepted (repeatable; default UpToDate)
      --collateral FILE         quote collateral (JSON); default: fetched (--pccs-url, else Intel's PCS)
      --pccs-url URL            a PCCS to fetch collateral from
      --quote-time ISO          judge the quote and collateral at this time (default: now)
  -c, --config FILE             take expectations from attestation.expect
      --json                    machine-readable output
`,
  audit: `Usage: portcullis audit verify [--checkpoints FILE] [--config FILE]
       portcullis audit export [--since T] [--until T] [--principal P] [--type T] [--upstream U] [--outcome O] [--out FILE]
       portcullis audit checkpoints export --to FILE|DIR [--config FILE]
       portcullis audit prune [--config FILE]

The tamper-evident audit log (docs/audit.md). "verify" walks the hash chain and the signed checkpoints and names the
first record that was edited, deleted, inserted or reordered, or where the log was cut short; exits 1 when it finds
one. With --checkpoints it also checks the log against checkpoints exported earlier, with the keys in that file, so
a rewritten log fails too. "export" writes records as JSON Lines (stdout, or --out FILE). "checkpoints export"
merges the signed checkpoints into a file kept somewhere else (a directory: portcullis-audit-checkpoints.json in
it). "prune" applies audit.retentionDays now (the gateway also does, hourly).

  -c, --config FILE   configuration file (default: ./portcullis.yaml)
      --checkpoints F an exported checkpoint file to verify against
      --since T       records at or after T: ISO 8601 (2026-01-31T12:00:00Z) or a duration ago (30m, 24h, 7d)
      --until T       records before T
      --principal P   records of this principal (subject; "admin" records: the operating-system user)
      --type T        records of this type (request, admin.servers.approve; "admin.*" for a prefix)
      --upstream U    records of calls to this upstream
      --outcome O     records with this outcome (ok, tool_error, policy_denied, …)
  -o, --out FILE      write to FILE (mode 0600) instead of stdout
      --to FILE|DIR   where checkpoints export writes
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
  approvals list, approve or deny calls waiting for a human approval
  servers  review and approve what upstream servers offer (pins); show their exact command lines
  audit    verify the audit log, export records or checkpoints
  policy   explain a policy decision, or test a table of expected decisions
  measure  print the measurement of this build and configuration (attestation)
  attest   verify a gateway's attestation document
  user     manage the built-in authorization server's accounts
  vault    manage the encrypted credential vault (\${secret:NAME} in the configuration)
  credentials  list or revoke the upstream accounts users connected (per-user credentials)

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
