/* The first call into libshmif undoes Go's raise of RLIMIT_NOFILE (limits.c). */
extern int libshmif_first_call;
void libshmif_before_first(void);
void libshmif_after_first(void);

/* FIRST_CALL(expr) evaluates expr, a call into Go, noting the limit around
 * it while no call has been made yet. */
#define FIRST_CALL(expr)                                                        \
	do {                                                                    \
		if (__builtin_expect(__atomic_load_n(&libshmif_first_call, __ATOMIC_RELAXED), 0)) { \
			int rc_;                                                \
			libshmif_before_first();                                \
			rc_ = (expr);                                           \
			libshmif_after_first();                                 \
			return rc_;                                             \
		}                                                               \
		return (expr);                                                  \
	} while (0)
