/*
 * rump_init is weak so that a real rump kernel linked into the same program
 * wins; libshmif itself needs no initialisation.
 */
__attribute__((weak)) int rump_init(void) { return 0; }
