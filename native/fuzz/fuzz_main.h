/* Built without libFuzzer (-DESDK_FUZZ_MAIN), a fuzz target runs every file named on the
   command line through LLVMFuzzerTestOneInput instead (run_fuzz.sh's gcc mode; replaying a
   finding). Included at the end of each fuzz_*.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef ESDK_FUZZ_MAIN
int main(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    unsigned char *d;
    long n;
    if (!f) continue;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    d = (unsigned char *)malloc(n ? (size_t)n : 1);
    if (d && fread(d, 1, (size_t)n, f) == (size_t)n) LLVMFuzzerTestOneInput(d, (size_t)n);
    free(d);
    fclose(f);
  }
  printf("ran %d inputs\n", argc - 1);
  return 0;
}
#endif
