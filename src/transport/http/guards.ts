/**
 * DNS-rebinding protection: the Host header must name this gateway (loopback names, the bound address, or
 * configured hosts) and a present Origin must be a loopback origin or configured. Both fail with 403.
 */
import { GatewayError } from '../../core/errors.js';
import type { ServerConfig } from '../../config/types.js';

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

export interface HostGuard {
  checkHost(host: string | undefined): void;
  checkOrigin(origin: string | undefined): void;
}

export function createGuards(server: ServerConfig, boundPort: () => number, publicUrl?: string): HostGuard {
  const extraHosts = new Set(server.allowedHosts.map((h) => h.toLowerCase()));
  const origins = new Set(server.allowedOrigins.map((o) => o.toLowerCase().replace(/\/$/, '')));
  // The gateway's own public address is always acceptable: its login pages post to it.
  if (publicUrl) {
    const u = new URL(publicUrl);
    extraHosts.add(u.host.toLowerCase());
    origins.add(u.origin.toLowerCase());
  }
  const names = new Set([...LOOPBACK_HOSTS, server.host.toLowerCase()]);

  const hostAllowed = (hostHeader: string): boolean => {
    const h = hostHeader.toLowerCase();
    if (extraHosts.has(h)) return true;
    const { name, port } = splitHostPort(h);
    if (extraHosts.has(name)) return true;
    if (!names.has(name)) return false;
    return port === undefined || port === String(boundPort());
  };

  return {
    checkHost(host) {
      if (!host || !hostAllowed(host)) throw new GatewayError('PC_HOST', host ? `"${host}"` : 'missing Host header');
    },
    checkOrigin(origin) {
      if (origin === undefined) return; // non-browser clients send none
      const o = origin.toLowerCase();
      if (origins.has(o)) return;
      let url: URL;
      try { url = new URL(o); } catch { throw new GatewayError('PC_ORIGIN', `"${origin}"`); }
      if ((url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.includes(url.hostname)) return;
      throw new GatewayError('PC_ORIGIN', `"${origin}"`);
    },
  };
}

function splitHostPort(h: string): { name: string; port: string | undefined } {
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    const name = h.slice(0, end + 1);
    const rest = h.slice(end + 1);
    return { name, port: rest.startsWith(':') ? rest.slice(1) : undefined };
  }
  const i = h.lastIndexOf(':');
  return i < 0 ? { name: h, port: undefined } : { name: h.slice(0, i), port: h.slice(i + 1) };
}

export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
