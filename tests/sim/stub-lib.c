/* Body of every simulated driver library except libnvidia-ml (see fake-nvml.c).
 *
 * Only the file name, DT_SONAME, ELF class and (for libnvidia-tls) the ABI note matter to a
 * toolkit; the exported symbols let a test tell which driver version a loaded copy came from.
 * Built with -nostdlib for 32-bit, so it must not call into libc. */

#ifndef NCTK_SIM_VERSION
#error "NCTK_SIM_VERSION must be defined on the command line"
#endif

/* The real libnvidia-tls carries a GNU ABI note for Linux 2.3.99 ("new TLS ABI"); the reference
 * toolkit only injects a libnvidia-tls that has it, so the simulated one must have it too. */
#ifdef NCTK_SIM_ABI_TAG
__asm__(".section .note.ABI-tag,\"a\",@note\n"
        ".balign 4\n"
        ".long 4\n"  /* name size: "GNU\0" */
        ".long 16\n" /* descriptor size: four words */
        ".long 1\n"  /* NT_GNU_ABI_TAG */
        ".string \"GNU\"\n"
        ".long 0\n"        /* OS: Linux */
        ".long 2, 3, 99\n" /* minimum kernel 2.3.99 */
        ".previous\n");
#endif

const char nctk_sim_driver_version[] = NCTK_SIM_VERSION;

const char *nctk_sim_version(void);
const char *nctk_sim_version(void) {
        return nctk_sim_driver_version;
}
