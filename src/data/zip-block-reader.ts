import { close, read } from 'node:fs';
import { Readable } from 'node:stream';
import * as yauzl from 'yauzl';

/** Bytes read from the file at once. */
const BLOCK_BYTES = 256 * 1024;
/** Blocks kept: the central directory (at the end) and the entry data (from the start) are read alternately. */
const BLOCKS_KEPT = 4;

/**
 * A zip file read for yauzl in blocks: yauzl asks for each entry's directory record, its local
 * header and its data separately, a few dozen bytes at a time for small images, each a trip
 * through libuv's thread pool (which sharp's decoders use too). Served from a few cached
 * 256 KiB blocks instead, a zip of thousands of small PNGs costs a read per block.
 */
export class BlockReader extends yauzl.RandomAccessReader {
  private readonly blocks = new Map<number, Promise<Buffer>>();

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {
    super();
  }

  private block(index: number): Promise<Buffer> {
    let found = this.blocks.get(index);
    if (found) {
      // Most recently used last.
      this.blocks.delete(index);
      this.blocks.set(index, found);
      return found;
    }
    const start = index * BLOCK_BYTES;
    const length = Math.min(BLOCK_BYTES, this.size - start);
    found = new Promise<Buffer>((resolve, reject) => {
      const buffer = Buffer.allocUnsafe(Math.max(length, 0));
      read(this.fd, buffer, 0, buffer.length, start, (err, bytes) =>
        err ? reject(err) : resolve(buffer.subarray(0, bytes)),
      );
    });
    found.catch(() => this.blocks.delete(index));
    this.blocks.set(index, found);
    if (this.blocks.size > BLOCKS_KEPT) this.blocks.delete(this.blocks.keys().next().value!);
    return found;
  }

  /** The bytes [start, end) as they come from the blocks. */
  private async *range(start: number, end: number): AsyncGenerator<Buffer> {
    for (let at = start; at < end; ) {
      const index = Math.floor(at / BLOCK_BYTES);
      const block = await this.block(index);
      const from = at - index * BLOCK_BYTES;
      const to = Math.min(block.length, end - index * BLOCK_BYTES);
      if (to <= from) throw new Error(`the zip file ends at ${index * BLOCK_BYTES + block.length}, before byte ${end}`);
      // A copy: a slice of the block would keep the whole block alive while the entry is held.
      yield Buffer.from(block.subarray(from, to));
      at = index * BLOCK_BYTES + to;
    }
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return Readable.from(this.range(start, end), { objectMode: false });
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ) {
    (async () => {
      let written = 0;
      for await (const chunk of this.range(position, position + length)) {
        chunk.copy(buffer, offset + written);
        written += chunk.length;
      }
    })().then(
      () => callback(null),
      (err) => callback(err),
    );
  }

  override close(callback: (err: Error | null) => void) {
    this.blocks.clear();
    close(this.fd, (err) => callback(err));
  }
}
