/**
 * Canonical resource URIs (RFC 8707) and their Protected Resource Metadata locations (RFC 9728).
 * Every MCP endpoint route is its own resource: a token for /servers/a/mcp is useless at /servers/b/mcp.
 */
export const PRM_PREFIX = '/.well-known/oauth-protected-resource';

export interface ProtectedResource {
  /** The MCP route, e.g. /servers/fs/mcp. */
  mcpPath: string;
  /** The canonical URI, e.g. https://gw.example.com/servers/fs/mcp: the audience tokens must carry. */
  uri: string;
  /** Where its metadata document is served (absolute URL), for WWW-Authenticate. */
  metadataUrl: string;
  /** The endpoint's name, for resource_name. */
  name: string;
}

export class ResourceIndex {
  private readonly byMcpPath = new Map<string, ProtectedResource>();

  /** `base` is scheme://host[:port] without a trailing slash. */
  constructor(readonly base: string) {}

  /** Registers an endpoint route by its MCP path ("/servers/fs/mcp", "/mcp"). */
  add(mcpPath: string, name: string): ProtectedResource {
    const r: ProtectedResource = { mcpPath, uri: this.base + mcpPath, metadataUrl: this.base + PRM_PREFIX + mcpPath, name };
    this.byMcpPath.set(mcpPath, r);
    return r;
  }

  forMcpPath(mcpPath: string): ProtectedResource | undefined {
    return this.byMcpPath.get(mcpPath);
  }

  /** The resource whose metadata lives at this request path, if any. */
  forMetadataPath(path: string): ProtectedResource | undefined {
    return path.startsWith(PRM_PREFIX) ? this.byMcpPath.get(path.slice(PRM_PREFIX.length)) : undefined;
  }

  forUri(uri: string): ProtectedResource | undefined {
    return uri.startsWith(this.base) ? this.byMcpPath.get(uri.slice(this.base.length)) : undefined;
  }

  all(): ProtectedResource[] {
    return [...this.byMcpPath.values()];
  }
}

/** scheme://host[:port] from a URL string, dropping a default port and any trailing slash or path. */
export function normaliseBase(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}
