// Errors of the demo shop, with stable codes like every meshscope component.
import { MeshscopeError } from '../../shared/errors.js';

export type ShopErrorCode = 'MS_ERR_SHOP_ENV' | 'MS_ERR_SHOP_SERVICE';

export class ShopError extends MeshscopeError {
  declare readonly code: ShopErrorCode;

  constructor(code: ShopErrorCode, message: string) {
    super(code, message);
  }
}
