// esbuild bundles imported CSS into app.css; TypeScript only needs to know the imports exist.
declare module '*.css';
