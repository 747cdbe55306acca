/**
 * The part of the WebAssembly JavaScript API this project uses (TypeScript ships these types only with the DOM
 * library, which a Node project should not pull in).
 */
declare namespace WebAssembly {
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  class Module {
    constructor(bytes: Uint8Array);
    static imports(module: Module): { module: string; name: string; kind: string }[];
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Record<string, unknown>;
  }
  type Imports = Record<string, Record<string, unknown>>;
  function instantiate(bytes: Uint8Array, imports?: Imports): Promise<{ instance: Instance; module: Module }>;
}
