// The part of hpack.js (CommonJS, no bundled types) that Spindle uses: its byte-level decoder and
// header table (h2-authority-rewrite.ts drives them directly, not through the stream wrappers), and
// the stream-style compressor/decompressor the tests use to play client and nghttp2.
declare module "hpack.js" {
  interface HpackDecoder {
    push(chunk: Buffer): void;
    isEmpty(): boolean;
    decodeBit(): number;
    decodeInt(): number;
    decodeStr(): number[];
  }
  interface HpackTableEntry {
    name: string;
    value: string;
    nameSize: number;
  }
  interface HpackTable {
    lookup(index: number): HpackTableEntry | undefined;
    add(name: string, value: string, nameSize: number, valueSize: number): void;
    updateSize(size: number): void;
  }
  interface HpackHeader {
    name: string;
    value: string;
    neverIndex?: boolean;
    huffman?: boolean;
  }
  interface HpackCompressor {
    write(headers: HpackHeader[]): boolean;
    read(): Buffer | null;
  }
  interface HpackDecompressor {
    write(block: Buffer): boolean;
    execute(): void;
    read(): HpackHeader | null;
    on(event: "error", listener: (err: Error) => void): this;
  }
  const hpack: {
    compressor: { create(options: { table: { maxSize: number } }): HpackCompressor };
    decompressor: { create(options: { table: { maxSize: number } }): HpackDecompressor };
    decoder: { create(): HpackDecoder };
    table: { create(options: { maxSize: number }): HpackTable };
    utils: { stringify(bytes: number[]): string };
  };
  export default hpack;
}
