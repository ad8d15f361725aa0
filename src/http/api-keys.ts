import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.ts';
import { TENANT_ID, type Tenant } from '../tenant.ts';

/** Shorter keys could be guessed; refuse them at start rather than run with them. */
const MIN_KEY_LENGTH = 16;

/** A secret's SHA-256, the form keys and tokens are held and compared in. */
export const digest = (secret: string) => createHash('sha256').update(secret).digest();

/**
 * The configured API keys, held only as SHA-256 digests. `identify` compares the presented
 * key's digest with every entry and never stops early, so its time does not depend on which
 * key (or how much of one) matched.
 */
export class Keyring {
  private constructor(private readonly entries: { hash: Buffer; tenant: Tenant }[]) {}

  get size() {
    return this.entries.length;
  }

  /** The tenants that have keys, each once. */
  tenantIds(): string[] {
    return [...new Set(this.entries.map((e) => e.tenant.id))];
  }

  identify(key: string): Tenant | undefined {
    const presented = digest(key);
    let found: Tenant | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(presented, entry.hash) && found === undefined) found = entry.tenant;
    }
    return found;
  }

  /** From `API_KEYS` (comma-separated) and the lines of `API_KEYS_FILE`; errors name the place, never the key. */
  static fromConfig(config: { API_KEYS: string; API_KEYS_FILE: string }): Keyring {
    const specs: { text: string; where: string }[] = config.API_KEYS.split(',')
      .map((text, i) => ({ text: text.trim(), where: `API_KEYS entry ${i + 1}` }))
      .filter((s) => s.text !== '');
    if (config.API_KEYS_FILE) {
      let content: string;
      try {
        content = readFileSync(config.API_KEYS_FILE, 'utf8');
      } catch (err) {
        throw new ConfigError(`API_KEYS_FILE=${config.API_KEYS_FILE} cannot be read: ${(err as Error).message}`);
      }
      content.split(/\r?\n/).forEach((line, i) => {
        const text = line.trim();
        if (text !== '' && !text.startsWith('#')) specs.push({ text, where: `API_KEYS_FILE line ${i + 1}` });
      });
    }
    const seen = new Set<string>();
    const entries = specs.map(({ text, where }) => {
      const [key, tenant, role, ...rest] = text.split(':');
      if (!key || !tenant || rest.length > 0 || (role !== undefined && role !== 'admin')) {
        throw new ConfigError(`${where}: expected key:tenant or key:tenant:admin`);
      }
      if (key.length < MIN_KEY_LENGTH)
        throw new ConfigError(`${where}: the key is shorter than ${MIN_KEY_LENGTH} characters`);
      if (!TENANT_ID.test(tenant)) throw new ConfigError(`${where}: the tenant must match ${TENANT_ID.source}`);
      const hash = digest(key);
      if (seen.has(hash.toString('hex'))) throw new ConfigError(`${where}: the same key is listed twice`);
      seen.add(hash.toString('hex'));
      return { hash, tenant: { id: tenant, admin: role === 'admin' } };
    });
    return new Keyring(entries);
  }
}
