/**
 * Loaded (`--import`) into every test file's process by scripts/test-run.ts, before the file.
 *
 * node:test (lib/internal/test_runner/harness.js) keeps an async hook with `init` and `destroy`
 * callbacks that maps every async resource — every promise included — to the test that made
 * it: that is how `describe`, `it`, `before` and `getTestContext` find the test or suite they
 * are called in, and how an uncaught exception or unhandled rejection is pinned on its test.
 * Such a hook makes V8 call into JavaScript for every promise made and track each one until it
 * is collected: 2,000,000 awaits in a test took 7.6 s of CPU with it and 0.12 s without, on the
 * suite's machine, and a test file that runs the app in its own process (Kysely, PGlite,
 * node-postgres: promises all the way down) spent about a third of its CPU there. No option of
 * node:test changes it.
 *
 * So the harness is given the same answer another way. While `node:test` loads (the harness
 * takes its own references to `createHook` and `executionAsyncId` then; both are put back at
 * once, so nothing else is affected):
 * - `executionAsyncId`, as the harness sees it, answers the async id of the test, hook or
 *   suite whose function is running, carried across awaits, timers and callbacks by an
 *   AsyncLocalStorage (which Node 24 keeps in V8's continuation data: no hook, no per-promise
 *   call); outside any, the real one;
 * - the harness's hook sees only the first test or suite made: from it, the function that runs
 *   every test's, hook's and suite's body (`runInAsyncScope` of node:test's `Test` class) is
 *   wrapped to enter that storage and to record the test in the harness's map, and the hook is
 *   turned off.
 *
 * test/scripts/test-file-preload.test.ts runs failing files of every kind (a load error, a
 * throw in a timer, a rejection, a hook registered after an await…) with and without this
 * module and checks the same tests fail with the same errors.
 */
import { createRequire } from 'node:module'
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks'

// The CommonJS exports object of node:async_hooks, which node's own modules read from: an ES
// import's namespace is read-only.
const asyncHooks = createRequire(import.meta.url)('node:async_hooks') as typeof import('node:async_hooks')
const { createHook, executionAsyncId } = asyncHooks
const running = new AsyncLocalStorage<AsyncResource>()
const fromHarness = () => new Error().stack?.includes('internal/test_runner/harness') === true

asyncHooks.executionAsyncId = () => running.getStore()?.asyncId() ?? executionAsyncId()
asyncHooks.createHook = (callbacks) => {
  if (!fromHarness() || callbacks.init === undefined) return createHook(callbacks)
  const record = (test: AsyncResource) => callbacks.init?.(test.asyncId(), 'Test', test.triggerAsyncId(), test)
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type !== 'Test') return
      hook.disable()
      wrapRunInAsyncScope(resource, record)
    },
  })
  return hook
}
await import('node:test')
asyncHooks.createHook = createHook
asyncHooks.executionAsyncId = executionAsyncId

/**
 * Wraps `runInAsyncScope` on the class of `resource` that extends AsyncResource directly
 * (node:test's `Test`, which `Suite` and the hooks' class extend): each run records its test in
 * the harness's map (`record`) and runs inside the storage, as that test.
 */
function wrapRunInAsyncScope(resource: object, record: (test: AsyncResource) => void): void {
  let base: object | null = Object.getPrototypeOf(resource) as object | null
  while (base !== null && Object.getPrototypeOf(base) !== AsyncResource.prototype)
    base = Object.getPrototypeOf(base) as object | null
  if (base === null) throw new Error('test-file-preload: node:test’s Test is no longer an AsyncResource')
  Object.defineProperty(base, 'runInAsyncScope', {
    configurable: true,
    writable: true,
    value: function (this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg: unknown, ...args: unknown[]) {
      record(this)
      // Inside the base method, which switches to the context the test was made in: the
      // storage is entered from there.
      return AsyncResource.prototype.runInAsyncScope.call(
        this,
        (...values: unknown[]) => running.run(this, () => fn.apply(thisArg, values)),
        undefined,
        ...args,
      )
    },
  })
}
