/**
 * The time as services see it. Time-boxed rules (diagnostic grants, access reviews) read
 * it at every use; tests pass a clock they can advance instead of sleeping.
 */
export type Clock = () => Date

export const systemClock: Clock = () => new Date()
