/** The clock in the unit the protocol's timestamps use: whole unix seconds. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);
