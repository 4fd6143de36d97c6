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
  init: `Usage: portcullis init [--dir D] [--force]

Write a commented starter portcullis.yaml (filesystem + memory servers behind a "default" virtual server),
its JSON Schema, and a sample/ folder for the filesystem server.

  -d, --dir D         folder to write into (default: the current folder)
  -f, --force         overwrite an existing portcullis.yaml
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
