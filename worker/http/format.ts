/** `2021-01-14T18:43:45.569Z` */
export function isoInstant(ms: number): string {
  return new Date(ms).toISOString();
}

/** ISO-8601 duration as Java's `Duration.toString()` prints it: `PT0S`, `PT1M2.5S`, `PT1H`. */
export function isoDuration(ms: number): string {
  const negative = ms < 0;
  let rest = Math.abs(Math.round(ms));
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = rest / 1000;
  if (hours === 0 && minutes === 0 && rest === 0) return "PT0S";
  const sign = negative ? "-" : "";
  let out = "PT";
  if (hours) out += `${sign}${hours}H`;
  if (minutes) out += `${sign}${minutes}M`;
  if (rest) out += `${sign}${Number(seconds.toFixed(3))}S`;
  return out;
}
