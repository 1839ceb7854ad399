// The module image the integration workload loads from the driver test double: any bytes do,
// the double's kernels are builtins reached by name.
extern const char workload_image[];
const char workload_image[] = "umdouble builtin kernels";
