import type { ObjectStore } from './object-store.ts';

/** How long a successful check is trusted: a burst of submissions costs one check, not one each. */
const TRUSTED_MS = 1_000;

/**
 * Whether the object store answers, asked before a request starts work that needs it (a
 * submission, an upload), so that an outage is a 503 within `timeoutMs` rather than a request
 * that hangs until the client gives up. Concurrent callers share one check.
 */
export class StoreProbe {
  private trustedUntil = 0;
  private pending: Promise<void> | undefined;

  constructor(
    readonly store: ObjectStore,
    private readonly timeoutMs: number,
  ) {}

  /** Resolves when the store answered lately or answers now; throws StoreUnavailableError otherwise. */
  async require(): Promise<void> {
    if (Date.now() < this.trustedUntil) return;
    await this.check();
  }

  /** Asks the store now (for /readyz); a failure also ends the trust in earlier answers. */
  async check(): Promise<void> {
    this.pending ??= this.store
      .check(this.timeoutMs)
      .then(
        () => {
          this.trustedUntil = Date.now() + TRUSTED_MS;
        },
        (err) => {
          this.trustedUntil = 0;
          throw err;
        },
      )
      .finally(() => {
        this.pending = undefined;
      });
    await this.pending;
  }
}
