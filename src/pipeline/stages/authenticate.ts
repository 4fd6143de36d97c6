/**
 * Attaches the principal. Without configured authentication the gateway only binds loopback (enforced at
 * config load and at listen), and every caller is the single local principal. The OAuth resource server
 * replaces this stage's body; the seam (ctx.principal) stays.
 */
import type { NamedStage } from '../pipeline.js';
import type { Principal } from '../context.js';

export const LOCAL_PRINCIPAL: Principal = Object.freeze({
  subject: 'local', issuer: 'local', method: 'local', scopes: [], roles: [], groups: [], attributes: {}, key: 'local',
});

export const authenticate: NamedStage = {
  name: 'authenticate',
  run: (ctx, next) => {
    ctx.principal ??= LOCAL_PRINCIPAL;
    return next();
  },
};
