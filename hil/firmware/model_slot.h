/* The model lives in a fixed flash slot (linker symbols __model_slot_start/_end), written
   by the flasher independently of the firmware; the arena and the input staging buffer
   share the SRAM between .bss and the stack. */
#ifndef ESDK_FW_MODEL_SLOT_H
#define ESDK_FW_MODEL_SLOT_H
#include <stddef.h>
#include <stdint.h>
#include "edge_sdk.h"

/* Bind the artifact in the slot; 0 on success, else the reason is in slot_error(). */
int slot_init(void);
int slot_ready(void);
const char *slot_error(void);
esdk_model *slot_model(void);
/* Staging buffer for the bytes loaded with `db`: survives inferences, unlike the arena. */
uint8_t *slot_staging(void);
size_t slot_staging_capacity(void);
size_t slot_arena_capacity(void);
uintptr_t slot_address(void);
#endif
