// Errors of the demo shop, with stable codes like every meshscope component.
export type ShopErrorCode = 'MS_ERR_SHOP_ENV' | 'MS_ERR_SHOP_SERVICE';

export class ShopError extends Error {
  readonly code: ShopErrorCode;

  constructor(code: ShopErrorCode, message: string) {
    super(message);
    this.name = 'ShopError';
    this.code = code;
  }
}
