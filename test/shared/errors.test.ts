// One error base for every component: each component's base class and each failure's class is
// a MeshscopeError carrying its stable MS_ERR_* code, and names stay the concrete class's name.
import { describe, expect, it } from 'vitest';
import { MeshscopeError } from '../../shared/errors.js';
import { CollectorConfigError, CollectorError, StorageError } from '../../collector/errors.js';
import { ControlPlaneError, UnknownNodeError } from '../../control-plane/errors.js';
import { FrameDecoderError } from '../../control-plane/xds/grpc-framing.js';
import { ShopError } from '../../examples/shop/errors.js';
import { InvalidConfigError, LoadgenError } from '../../loadgen/errors.js';
import { AdminDuplicateHandlerError, AdminError } from '../../proxy/admin/errors.js';
import { ConfigInvalidError, ProxyError } from '../../proxy/errors.js';
import { RuntimeNoAdminLayerError } from '../../proxy/runtime/errors.js';
import { StatsError, StatsInvalidFilterError } from '../../proxy/stats/errors.js';
import { FormatError } from '../../proxy/telemetry/substitution-format.js';
import { XdsBootstrapError, XdsClientError } from '../../proxy/xds/errors.js';
import { UpError, UpPlanError } from '../../up/errors.js';

describe('shared error base', () => {
  const cases: Array<[Error, abstract new (...args: never[]) => Error, string, string]> = [
    [new ConfigInvalidError('x.yaml', ['a: bad']), ProxyError, 'MS_ERR_CONFIG_INVALID', 'ConfigInvalidError'],
    [new RuntimeNoAdminLayerError(), ProxyError, 'MS_ERR_RUNTIME_NO_ADMIN_LAYER', 'RuntimeNoAdminLayerError'],
    [new FormatError('bad'), ProxyError, 'MS_ERR_ACCESS_LOG_FORMAT', 'FormatError'],
    [new AdminDuplicateHandlerError('/x'), AdminError, 'MS_ERR_ADMIN_DUPLICATE_HANDLER', 'AdminDuplicateHandlerError'],
    [new StatsInvalidFilterError('(', 'bad'), StatsError, 'MS_ERR_STATS_INVALID_FILTER', 'StatsInvalidFilterError'],
    [new XdsBootstrapError('bad'), XdsClientError, 'MS_ERR_XDS_BOOTSTRAP', 'XdsBootstrapError'],
    [new CollectorConfigError(['x']), CollectorError, 'MS_ERR_COLLECTOR_CONFIG', 'CollectorConfigError'],
    [new UnknownNodeError('n', []), ControlPlaneError, 'MS_ERR_UNKNOWN_NODE', 'UnknownNodeError'],
    [new FrameDecoderError('big'), ControlPlaneError, 'MS_ERR_XDS_GRPC_FRAME', 'FrameDecoderError'],
    [new InvalidConfigError(['x']), LoadgenError, 'MS_ERR_LOADGEN_INVALID_CONFIG', 'InvalidConfigError'],
    [new UpPlanError('x'), UpError, 'MS_ERR_UP_PLAN', 'UpPlanError'],
    [new ShopError('MS_ERR_SHOP_ENV', 'x'), MeshscopeError, 'MS_ERR_SHOP_ENV', 'ShopError'],
  ];
  it.each(cases)('%s is a MeshscopeError with its code', (err, componentBase, code, name) => {
    expect(err).toBeInstanceOf(MeshscopeError);
    expect(err).toBeInstanceOf(componentBase);
    expect((err as MeshscopeError).code).toBe(code);
    expect(err.name).toBe(name);
  });

  it('keeps the cause and the loadgen exit code', () => {
    const cause = new Error('socket closed');
    expect(new StorageError('insert failed', cause).cause).toBe(cause);
    expect(new InvalidConfigError(['x']).exitCode).toBe(104);
  });
});
