/** One statement inserting `n` devices f10000, f10001, … (both engines; ids sort as their numbers do). */
export const manyDevices = (n: number): string =>
  `WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < ${n - 1})
   INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, cr_generated)
   SELECT 'f' || (10000 + i), 's' || i, 'x', 'c' || i, 'x', 'w' || i, 'x', 1, 1, 0 FROM k`;

/** The id of the i-th of them. */
export const manyDeviceId = (i: number): string => `f${10000 + i}`;
