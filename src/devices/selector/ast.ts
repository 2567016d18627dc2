/**
 * A parsed selector: checked field by field (every field is compared with the kind of value it holds), so
 * compiling it cannot fail. Built by `parseSelector`, compiled by `compileSelector` for either engine.
 */

/** Fields holding text: compared character by character (byte order of UTF-8, case-sensitive). */
export type TextFieldName = 'id' | 'natId' | 'oui' | 'productClass' | 'serialNumber';
/** Fields holding a version: digits compare as numbers, so 3.9.2 < 3.10. */
export type VersionFieldName = 'softwareVersion' | 'hardwareVersion';
/** Fields holding a time (ms since the epoch in the store). */
export type TimeFieldName = 'lastInform' | 'lastSeen';
/** Fields that are true or false. */
export type FlagName = 'online' | 'behindNat';

export type ValueField =
  | { readonly kind: 'text'; readonly name: TextFieldName }
  | { readonly kind: 'version'; readonly name: VersionFieldName }
  | { readonly kind: 'time'; readonly name: TimeFieldName }
  /** The last known value of a parameter: text, or a number when compared with a number. */
  | { readonly kind: 'param'; readonly path: string }
  /** The device's tags: a condition on `tag` is true when one of its tags satisfies it. */
  | { readonly kind: 'tag' };

export type CompareOp = '=' | '<' | '<=' | '>' | '>=';

/** A literal as the compiler binds it. Times relative to now are resolved with the clock at compile time. */
export type Literal =
  | { readonly type: 'text'; readonly value: string }
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'time'; readonly at: number }
  | { readonly type: 'time'; readonly fromNow: number };

/** `!=`, `NOT IN` and `NOT LIKE` are parsed as NOT of `=`, `IN`, `LIKE`: true where the value is unknown. */
export type Condition =
  | { readonly kind: 'and' | 'or'; readonly items: readonly Condition[] }
  | { readonly kind: 'not'; readonly item: Condition }
  | { readonly kind: 'flag'; readonly name: FlagName; readonly value: boolean }
  | { readonly kind: 'compare'; readonly field: ValueField; readonly op: CompareOp; readonly value: Literal }
  | { readonly kind: 'in'; readonly field: ValueField; readonly values: readonly Literal[] }
  /** `pattern` is a glob: `*` any run of characters, `?` one character, `\` makes the next one literal. */
  | { readonly kind: 'like'; readonly field: ValueField; readonly pattern: string };

/** Whether the condition asks about presence (`online`), which memory decides, not the store alone. */
export function usesOnline(c: Condition): boolean {
  switch (c.kind) {
    case 'and':
    case 'or':
      return c.items.some(usesOnline);
    case 'not':
      return usesOnline(c.item);
    case 'flag':
      return c.name === 'online';
    default:
      return false;
  }
}

/** Both conditions. */
export const both = (a: Condition, b: Condition): Condition => ({ kind: 'and', items: [a, b] });

/** `online`, as a condition (the API's `?online=true`, stbctl's `--all-online`). */
export const ONLINE: Condition = { kind: 'flag', name: 'online', value: true };
