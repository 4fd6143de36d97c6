/**
 * Namespacing for virtual servers, which aggregate several upstreams into one endpoint.
 *
 *  - Tools and prompts:   `{server}__{name}`   e.g. `fs__read_file`. Server names cannot contain `_`
 *    (the config schema forbids it), so the first `__` always ends the server part.
 *  - Resource URIs and URI templates: `portcullis://{server}/{original}`   e.g.
 *    `portcullis://fs/file:///tmp/a.txt`. The original is kept verbatim after the prefix, so an RFC 6570
 *    template stays a template and its expansion strips back to the upstream's own URI.
 *
 * Nothing depends on serverInfo.name: the prefix is the name the operator gave the upstream in config.
 */
export const NAME_SEPARATOR = '__';
export const URI_SCHEME = 'portcullis://';

export function qualifyName(server: string, name: string): string {
  return `${server}${NAME_SEPARATOR}${name}`;
}

export function splitName(qualified: string): { server: string; name: string } | undefined {
  const i = qualified.indexOf(NAME_SEPARATOR);
  if (i <= 0) return undefined;
  const name = qualified.slice(i + NAME_SEPARATOR.length);
  return name ? { server: qualified.slice(0, i), name } : undefined;
}

export function qualifyUri(server: string, uri: string): string {
  return `${URI_SCHEME}${server}/${uri}`;
}

export function splitUri(qualified: string): { server: string; uri: string } | undefined {
  if (!qualified.startsWith(URI_SCHEME)) return undefined;
  const rest = qualified.slice(URI_SCHEME.length);
  const i = rest.indexOf('/');
  if (i <= 0) return undefined;
  const uri = rest.slice(i + 1);
  return uri ? { server: rest.slice(0, i), uri } : undefined;
}
