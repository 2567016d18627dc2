type TypedArray = Int32Array | Uint32Array | Uint16Array | Uint8Array | Float64Array;

/** A copy of `a`, of the same kind, with room for `length` elements (the new ones zero). */
export function grown<A extends TypedArray>(a: A, length: number): A {
  const b = new (a.constructor as new (n: number) => A)(length);
  b.set(a);
  return b;
}
