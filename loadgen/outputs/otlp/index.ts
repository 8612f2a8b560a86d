// Registers --out otlp; the OpenTelemetry SDK is imported only when a run asks for this output.
import { registerOutput } from '../output.js';

registerOutput('otlp', async (arg) => new (await import('./output.js')).OtlpOutput(arg));
