/* vec_undef.h: ends one pass of an op layer (see kernels/ref/vec_ref.h for
 * the list of what an op layer defines). Included at the end of every
 * template that included an op layer. */
#undef V
#undef VM
#undef VN
#undef LN_VINLINE
#undef LN_VFUNC
#undef KFN
#undef v_set1
#undef v_zero
#undef v_loadu
#undef v_storeu
#undef v_load_part
#undef v_store_part
#undef v_bcast
#undef v_add
#undef v_sub
#undef v_mul
#undef v_div
#undef v_fma
#undef v_fnma
#undef v_max
#undef v_min
#undef v_abs
#undef v_negabs
#undef v_copysign
#undef v_gt
#undef v_lt
#undef v_select
#undef v_round
#undef v_pow2i
