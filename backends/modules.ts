/** Optional packages, loaded by name through a lookup that tests can stand in for. */

/** Loads a package by name: its module, or undefined when it is not installed. May throw when it is installed but broken. */
export type ModuleResolver = (name: string) => Promise<unknown | undefined>;

/** Node's own lookup: a missing package gives undefined, a broken one throws. */
export const importModule: ModuleResolver = async (name) => {
  try {
    return await import(name);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const message = e instanceof Error ? e.message : String(e);
    // Only the package itself being absent counts as "not installed"; a missing dependency of it is breakage.
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(`'${name}'`)) return undefined;
    throw e;
  }
};
