/** One verification step's outcome; the verdict is the list, and passes only when none failed. */
export interface Check {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  detail: string;
}

export const pass = (name: string, detail: string): Check => ({ name, status: 'pass', detail });
export const fail = (name: string, detail: string): Check => ({ name, status: 'fail', detail });
export const skip = (name: string, detail: string): Check => ({ name, status: 'skip', detail });

export function passed(checks: readonly Check[]): boolean {
  return checks.length > 0 && checks.every((c) => c.status !== 'fail');
}
