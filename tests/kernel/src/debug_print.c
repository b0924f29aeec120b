/*
 * DbgPrintEx for the user-mode kernel: format as the kernel's debug print does (the driver uses
 * only %s and %08X, which printf reads the same way) and pass the text to the Rust side, which
 * keeps the debugger log the tests read.
 */
#include <stdarg.h>
#include <stdio.h>

void pushlock_kernel_debug_print(unsigned int component, unsigned int level, const char *text);

unsigned int DbgPrintEx(unsigned int component, unsigned int level, const char *format, ...)
{
    char text[512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    pushlock_kernel_debug_print(component, level, text);
    return 0;
}
